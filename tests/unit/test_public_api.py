"""Every public module's names, pinned: the public API changes only on purpose."""

import importlib

import pytest

import kugel_common

PUBLIC = {
    "kugel_common": [
        "ApiKeyAuth", "BadRequestError", "BadSidecarReplyError", "BasicAuth", "BearerAuth",
        "BreakerChange", "BreakerSnapshot", "BreakerState", "BreakerStore", "CircuitOpenError",
        "ClientSettings", "Clock", "ComponentNotFoundError", "ConflictError",
        "DaprCircuitOpenError", "DaprError", "DaprUnavailableError", "EtagMismatchError",
        "ForbiddenError", "Hook", "HttpClientError", "HttpClientHelper", "InvalidEndpointError",
        "InvalidRequestError", "NoCurrentAppError", "NotFoundError", "OutboxError",
        "RequestDetails", "RequestRefusedError", "Resolver", "ResponseDetails",
        "ResponseTooLargeError", "RetryDetails", "ServiceAddress", "ServiceClientPool",
        "ServiceCredentials", "ServiceNotConfiguredError", "ServiceRegistry",
        "ServiceUnavailableError", "SettingsError", "TokenProvider", "UnauthorizedError",
        "UnprocessableEntityError", "WrongEventLoopError", "__version__", "get_service_client",
        "path", "set_testing", "use_pool",
    ],
    "kugel_common.errors": [
        "BadRequestError", "BadSidecarReplyError", "CircuitOpenError", "ComponentNotFoundError",
        "ConflictError", "DaprCircuitOpenError", "DaprError", "DaprUnavailableError",
        "EtagMismatchError", "ForbiddenError", "HttpClientError", "InvalidEndpointError",
        "InvalidRequestError", "NoCurrentAppError", "NotFoundError", "OutboxError",
        "RequestRefusedError", "ResponseTooLargeError", "ServiceNotConfiguredError",
        "ServiceUnavailableError", "UnauthorizedError", "UnprocessableEntityError",
        "WrongEventLoopError",
    ],
    "kugel_common.testing": [
        "FakeClock", "InMemoryBreakerStore", "Testing", "set_testing",
    ],
    "kugel_common.repositories": [
        "BadUpstreamResponse", "ItemMasterWebRepository", "NotFound",
        "PaymentMasterWebRepository", "RepositoryError", "RepositoryUnavailable",
        "SettingsMasterWebRepository", "StaffMasterWebRepository", "StoreInfoWebRepository",
        "TerminalInfoWebRepository", "TranlogWebRepository", "WebRepository",
    ],
    "kugel_common.schemas": [
        "MAX_AMOUNT", "Amount", "Code", "Currency", "Cursor", "Id", "Item", "ItemCode", "Money",
        "Name", "Page", "Payment", "Price", "Quantity", "Setting", "Staff", "Store", "TaxRate",
        "Terminal", "TerminalNo", "Text", "Tranlog", "TranlogLine", "TranlogPayment",
    ],
    "kugel_common.fastapi": [
        "ERROR_RESPONSES", "ApiError", "AppSettings", "ErrorBody", "Principal", "Provided",
        "ServiceTokens", "authenticated", "create_app", "error_response", "issue_service_token",
    ],
    "kugel_common.dapr": [
        "BulkPublishResult", "CloudEvent", "DaprApi", "DaprClientHelper", "DropEvent",
        "IdempotentConsumer", "Outbox", "OutboxEvent", "OutboxMessage", "OutboxRecord",
        "OutboxStatus", "OutboxStore", "RetryLater", "SqliteOutboxStore", "StateEntry",
        "StateOperation", "Subscriber",
    ],
    "kugel_common.dapr.sidecar": [
        "AppDirectory", "AppSpec", "Component", "ComponentError", "InvalidSetting", "LocalSidecar",
        "PeerSecretError", "RedisUnreachable", "ResiliencyError", "SidecarApp", "StateBackend",
        "UnsupportedComponent", "host_address", "load_components", "load_resiliency",
        "load_subscriptions",
    ],
    "kugel_common.container": [
        "KugelContainer",
    ],
    "kugel_common.pytest_plugin": [
        "ServiceStub", "only_stubs",
    ],
}


@pytest.mark.parametrize("module", list(PUBLIC))
def test_public_names_are_pinned(module: str) -> None:
    public = importlib.import_module(module)
    assert public.__all__ == PUBLIC[module]
    for name in PUBLIC[module]:
        assert getattr(public, name) is not None


def test_error_tree() -> None:
    from kugel_common import errors

    assert issubclass(errors.CircuitOpenError, errors.ServiceUnavailableError)
    assert issubclass(errors.ServiceUnavailableError, errors.HttpClientError)
    assert issubclass(errors.NotFoundError, errors.HttpClientError)
    assert issubclass(errors.InvalidEndpointError, ValueError)
    assert issubclass(kugel_common.SettingsError, ValueError)
    assert issubclass(errors.InvalidRequestError, ValueError)
    assert issubclass(errors.ServiceNotConfiguredError, errors.HttpClientError)
    # A sidecar that is down is "unavailable" to code that only knows HTTP errors, too.
    assert issubclass(errors.DaprUnavailableError, errors.ServiceUnavailableError)
    assert issubclass(errors.DaprCircuitOpenError, errors.DaprUnavailableError)
    assert issubclass(errors.DaprCircuitOpenError, errors.CircuitOpenError)
    for cls in (errors.EtagMismatchError, errors.ComponentNotFoundError,
                errors.BadSidecarReplyError):
        assert issubclass(cls, errors.DaprError)
        assert not issubclass(cls, errors.ServiceUnavailableError)
