import kugel_common
import kugel_common.fastapi

EXPECTED = [
    "ApiKeyAuth",
    "BadRequestError",
    "BadSidecarReplyError",
    "BasicAuth",
    "BearerAuth",
    "BreakerState",
    "CircuitOpenError",
    "ClientSettings",
    "Clock",
    "ComponentNotFoundError",
    "ConflictError",
    "DaprCircuitOpenError",
    "DaprError",
    "DaprUnavailableError",
    "EtagMismatchError",
    "ForbiddenError",
    "Hooks",
    "HttpClientError",
    "HttpClientHelper",
    "InvalidEndpointError",
    "InvalidRequestError",
    "NoCurrentAppError",
    "NotFoundError",
    "OutboxError",
    "RequestInfo",
    "RequestRefusedError",
    "Resolver",
    "ResponseInfo",
    "ResponseTooLargeError",
    "ServiceAddress",
    "ServiceClientPool",
    "ServiceCredentials",
    "ServiceNotConfiguredError",
    "ServiceRegistry",
    "ServiceUnavailableError",
    "SettingsError",
    "SystemClock",
    "TokenProvider",
    "UnauthorizedError",
    "UnprocessableEntityError",
    "WrongEventLoopError",
    "__version__",
    "get_service_client",
    "path",
    "set_testing",
    "use_pool",
]


def test_public_names_are_pinned() -> None:
    assert kugel_common.__all__ == EXPECTED
    assert sorted(kugel_common.__all__) == kugel_common.__all__
    for name in EXPECTED:
        assert getattr(kugel_common, name) is not None


FASTAPI_EXPECTED = [
    "ERROR_RESPONSES",
    "ApiError",
    "AppSettings",
    "ErrorBody",
    "Principal",
    "Provided",
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
