"""Every public module's names, pinned: the public API changes only on purpose."""

import importlib
import subprocess
import sys

import pytest

import kugel_common

PUBLIC = {
    "kugel_common": [
        "ERROR_RESPONSES", "ApiError", "ApiKeyAuth", "AppSettings", "BadRequestError",
        "BadSidecarReplyError", "BadUpstreamResponse", "BasicAuth", "BearerAuth", "BreakerChange",
        "BreakerSnapshot", "BreakerState", "BreakerStore", "CircuitOpenError", "ClientSettings",
        "Clock", "CloudEvent", "ComponentNotFoundError", "ConflictError", "DaprCircuitOpenError",
        "DaprClientHelper", "DaprError", "DaprUnavailableError", "DropEvent", "EtagMismatchError",
        "FakeClock", "ForbiddenError", "Hook", "HttpClientError", "HttpClientHelper",
        "IdempotentConsumer", "InvalidEndpointError", "InvalidRequestError", "KugelContainer",
        "NoCurrentAppError", "NotFound", "NotFoundError", "Outbox", "OutboxError", "OutboxMessage",
        "Principal", "Provided", "RepositoryError", "RepositoryUnavailable", "RequestDetails",
        "RequestRefusedError", "Resolver", "ResponseDetails", "ResponseTooLargeError",
        "RetryDetails", "RetryLater", "ServiceAddress", "ServiceClientPool", "ServiceCredentials",
        "ServiceNotConfiguredError", "ServiceRegistry", "ServiceTokens", "ServiceUnavailableError",
        "SettingsError", "StateOperation", "Subscriber", "TokenProvider", "UnauthorizedError",
        "UnprocessableEntityError", "WebRepository", "WrongEventLoopError", "__version__",
        "authenticated", "create_app", "error_response", "get_service_client",
        "issue_service_token", "path", "set_testing", "use_pool",
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
        "ERROR_RESPONSES", "ApiError", "AppSettings", "ErrorBody", "JsonLogFormatter",
        "LogContextFilter", "Principal", "Provided", "RedactUrlsFilter", "ServiceTokens",
        "authenticated", "create_app", "error_response", "issue_service_token",
    ],
    "kugel_common.dapr": [
        "BulkPublishResult", "CloudEvent", "DaprApi", "DaprClientHelper", "DropEvent",
        "IdempotentConsumer", "Outbox", "OutboxEvent", "OutboxMessage", "OutboxRecord",
        "OutboxStatus", "OutboxStore", "RetryLater", "SqliteOutboxStore", "StateEntry",
        "StateOperation", "Subscriber",
    ],
    "kugel_common.dapr.sidecar": [
        "AppDirectory", "AppSpec", "Component", "ComponentError", "DataDirUnusable",
        "InvalidSetting", "LocalSidecar", "PeerSecretError", "RedisUnreachable",
        "ResiliencyError", "SidecarApp", "StateBackend", "UnsupportedComponent", "host_address",
        "load_components", "load_resiliency", "load_subscriptions",
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


def test_a_service_author_imports_everything_from_kugel_common() -> None:
    """The root's names are the very objects of the modules that define them."""
    for module in PUBLIC:
        if module in ("kugel_common", "kugel_common.pytest_plugin", "kugel_common.dapr.sidecar"):
            continue
        public = importlib.import_module(module)
        for name in set(PUBLIC[module]) & set(PUBLIC["kugel_common"]):
            assert getattr(kugel_common, name) is getattr(public, name), (module, name)
    for name in ("KugelContainer", "create_app", "Outbox", "Subscriber", "WebRepository",
                 "FakeClock"):
        assert name in PUBLIC["kugel_common"]


@pytest.mark.parametrize(("name", "missing", "extra"), [
    ("create_app", "fastapi", "fastapi"),
    ("KugelContainer", "dependency_injector", "fastapi"),
    ("Subscriber", "fastapi", "dapr"),
])
def test_a_lazy_name_without_its_extra_names_the_extra(name: str, missing: str,
                                                       extra: str) -> None:
    code = ("import importlib.util\n"
            "real = importlib.util.find_spec\n"
            f"importlib.util.find_spec = lambda n, *a: None if n == {missing!r} else real(n, *a)\n"
            "try:\n"
            f"    from kugel_common import {name}\n"
            "except ModuleNotFoundError as exc:\n"
            "    print(exc.name, '|', exc)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    found, message = result.stdout.strip().split(" | ")
    assert found == missing
    assert f"pip install 'kugel[{extra}]'" in message


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        kugel_common.NoSuchThing  # noqa: B018


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
