"""Model name -> the deployments that serve it, in the order to try them."""

from __future__ import annotations

from proxy.config import Deployment, Settings


class Router:
    def __init__(self, settings: Settings) -> None:
        self.default = settings.default_deployment()
        routes: dict[str, list[Deployment]] = {}
        for deployment in settings.deployments:
            routes.setdefault(deployment.name, []).append(deployment)
        self._routes = {name: tuple(chain) for name, chain in routes.items()}

    def route(self, model: str | None) -> tuple[Deployment, ...]:
        """Configured deployments for `model`; unknown names go to the default upstream."""
        if model is not None:
            chain = self._routes.get(model)
            if chain:
                return chain
        return (self.default,)

    @property
    def model_names(self) -> list[str]:
        return sorted(self._routes)
