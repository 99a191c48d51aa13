"""Whether to ask a deployment's streams for their usage (`stream_options.include_usage`).

Chat Completions and Completions streams report tokens only when asked. Most upstreams
accept the option; some refuse unknown arguments (Azure OpenAI on older `api-version`s,
strict self-hosted servers) and answer 400. Each deployment says what to do
(`stream_usage`):

- `inject`: always ask;
- `never`: never ask; tokens are counted locally and the row is marked `estimated`;
- `auto` (default): ask, and when the upstream answers a 4xx that names
  `stream_options`, send the same call again without it, and stop asking that
  deployment for the life of the process.
"""

from __future__ import annotations

import logging

from proxy.config import Deployment

log = logging.getLogger("wattgate.stream_usage")

class StreamUsagePolicy:
    def __init__(self) -> None:
        self._refused: set[str] = set()  # labels of `auto` deployments that refused it

    def ask(self, dep: Deployment) -> bool:
        """Whether to add `stream_options.include_usage` for `dep`."""
        if dep.stream_usage == "auto":
            return dep.label not in self._refused
        return dep.stream_usage == "inject"

    def refused(self, dep: Deployment, status: int, body: bytes) -> bool:
        """Whether an answer to an asking call says the option itself was refused; if so,
        `auto` deployments stop being asked (the caller then retries without it)."""
        if dep.stream_usage != "auto" or not 400 <= status < 500:
            return False
        if b"stream_options" not in body and b"include_usage" not in body:
            return False
        if dep.label not in self._refused:
            log.warning(
                "deployment %s refused stream_options (HTTP %d); its streams are now sent "
                "without it and their tokens counted locally", dep.label, status,
            )
            self._refused.add(dep.label)
        return True
