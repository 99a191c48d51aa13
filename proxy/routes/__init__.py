"""FastAPI routers for everything off the proxied hot path."""
