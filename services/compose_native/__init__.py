"""docker-compose.yml run for real without Docker (`make compose-native`): every service from
its own command, environment, volumes and ports, in its own network namespace, with
`kugel sidecar` in place of each daprd and the local redis-server for redis."""

from ._netns import Network, NetworkError, check_can_build
from ._plan import ComposeError, Healthcheck, ServicePlan, left_out, plan
from ._run import Compose, ServiceFailed

__all__ = [
    "Compose",
    "ComposeError",
    "Healthcheck",
    "Network",
    "NetworkError",
    "ServiceFailed",
    "ServicePlan",
    "check_can_build",
    "left_out",
    "plan",
]
