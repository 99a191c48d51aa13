"""A revoked key is dead on the replica that revoked it as soon as the revocation returns,
even while key-cache reloads run back to back (a tiny TTL) and may have read the key as
active just before the revocation committed."""

from __future__ import annotations

import httpx

from tests.integration.conftest import GatewayFactory

ROUNDS = 150


def test_revocation_wins_over_concurrent_cache_reloads(
    make_gateway: GatewayFactory, db_url: str
) -> None:
    gateway = make_gateway(database_url=db_url, WATTGATE_KEY_CACHE_TTL_S="0.01")
    master = {"Authorization": f"Bearer {gateway.master_key}"}
    accepted_after_revocation = []
    with httpx.Client(base_url=gateway.url, timeout=10) as client:
        assert client.post("/admin/teams", headers=master, json={"name": "revoke"}).is_success
        for n in range(ROUNDS):
            created = client.post("/admin/keys", headers=master, json={"team": "revoke"}).json()
            auth = {"Authorization": f"Bearer {created['key']}"}
            # 404: the key is accepted and the (unknown) call looked up for its team.
            assert client.get("/v1/impacts/req_unknown", headers=auth).status_code == 404
            revoked = client.delete(f"/admin/keys/{created['key_id']}", headers=master)
            assert revoked.status_code == 200, revoked.text
            answer = client.get("/v1/impacts/req_unknown", headers=auth)
            if answer.status_code != 401:
                accepted_after_revocation.append((n, answer.status_code))
    assert accepted_after_revocation == []
