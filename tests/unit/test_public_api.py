import kugel_common
import kugel_common.fastapi

EXPECTED = [
    "ApiKeyAuth",
    "AppSettings",
    "BadRequestError",
    "BadSidecarReplyError",
    "BasicAuth",
    "BearerAuth",
    "BreakerChange",
    "BreakerHook",
    "BreakerSnapshot",
    "BreakerState",
    "BreakerStore",
    "BulkPublishResult",
    "CircuitOpenError",
    "ClientSettings",
    "Clock",
    "ComponentNotFoundError",
    "ConflictError",
    "DaprCircuitOpenError",
    "DaprClientHelper",
    "DaprError",
    "DaprUnavailableError",
    "EtagMismatchError",
    "ForbiddenError",
    "Hook",
    "HttpClientError",
    "HttpClientHelper",
    "InMemoryBreakerStore",
    "InvalidEndpointError",
    "InvalidRequestError",
    "NotFoundError",
    "OutboxError",
    "RequestDetails",
    "RequestHook",
    "RequestRefusedError",
    "Resolver",
    "ResponseDetails",
    "ResponseHook",
    "ResponseTooLargeError",
    "RetryDetails",
    "RetryHook",
    "ServiceAddress",
    "ServiceClientPool",
    "ServiceCredentials",
    "ServiceNotConfiguredError",
    "ServiceRegistry",
    "ServiceUnavailableError",
    "SettingsError",
    "StateEntry",
    "StateOperation",
    "SystemClock",
    "TokenProvider",
    "UnauthorizedError",
    "UnprocessableEntityError",
    "WrongEventLoopError",
    "__version__",
    "breaker_state",
    "close_all_clients",
    "default_pool",
    "get_dapr_client",
    "get_service_client",
    "isolate_breaker",
    "metrics_snapshot",
    "path",
    "reset_breaker",
    "reset_metrics",
    "set_dapr_client",
    "set_default_pool",
    "set_testing",
]


def test_public_names_are_pinned() -> None:
    assert kugel_common.__all__ == EXPECTED
    assert sorted(kugel_common.__all__) == kugel_common.__all__
    for name in EXPECTED:
        assert getattr(kugel_common, name) is not None


FASTAPI_EXPECTED = [
    "ERROR_RESPONSES",
    "ApiError",
    "ErrorBody",
    "Principal",
    "ServiceAuth",
    "ServiceTokens",
    "authenticated",
    "create_app",
    "error_response",
    "install_error_handlers",
    "issue_service_token",
    "service_token",
]


def test_fastapi_names_are_pinned() -> None:
    assert kugel_common.fastapi.__all__ == FASTAPI_EXPECTED
    for name in FASTAPI_EXPECTED:
        assert getattr(kugel_common.fastapi, name) is not None


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
