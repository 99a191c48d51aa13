"""Model name -> the deployments that serve it, in the order to try them.

Several `models:` entries with the same name form a fallback chain. Names the config
does not list go to a default upstream: the Anthropic one for `claude-*` and
`anthropic/*` models, the OpenAI-compatible one for everything else.

Anthropic's own endpoint (`/v1/messages`) goes to a listed model's Anthropic deployments
(relayed as they are) and OpenAI-compatible ones (translated by the gateway, see
`proxy.adapters.messages_chat`), in the chain's order; deployments reached only through
litellm (Gemini, Bedrock...) are left out. Names not listed go to the default Anthropic
upstream.
"""

from __future__ import annotations

from proxy.config import Deployment, Settings

_ANTHROPIC_PREFIXES = ("claude-", "anthropic/")


class Router:
    def __init__(self, settings: Settings) -> None:
        self.default = settings.default_deployment()
        self.anthropic = settings.anthropic_deployment()
        routes: dict[str, list[Deployment]] = {}
        for deployment in settings.deployments:
            routes.setdefault(deployment.name, []).append(deployment)
        self._routes = {name: tuple(chain) for name, chain in routes.items()}
        self._messages_routes = {
            name: tuple(d for d in chain if d.provider == "anthropic" or not d.translated)
            for name, chain in self._routes.items()
        }

    def route(self, model: str | None) -> tuple[Deployment, ...]:
        """Configured deployments for `model`; unknown names go to a default upstream."""
        if model is not None:
            chain = self._routes.get(model)
            if chain:
                return chain
            if model.startswith(_ANTHROPIC_PREFIXES):
                return (self.anthropic,)
        return (self.default,)

    def route_messages(self, model: str | None) -> tuple[Deployment, ...]:
        """Deployments for a Messages call: configured Anthropic or OpenAI-compatible ones,
        else the default Anthropic upstream."""
        if model is not None:
            chain = self._messages_routes.get(model)
            if chain:
                return chain
        return (self.anthropic,)

    @property
    def needs_litellm(self) -> bool:
        """Whether a configured deployment is served through litellm."""
        return any(d.translated for chain in self._routes.values() for d in chain)

    @property
    def model_names(self) -> list[str]:
        return sorted(self._routes)
