"""The customer list at 100,000 customers, over real HTTP: every match once, in order, by cursor or by page."""

from __future__ import annotations

import pytest
import requests

from tests.conftest import ServedProduct, free_port, product_env


class BigSandbox:
    """GETs on a served 100,000-customer sandbox."""

    def __init__(self, url: str):
        self.url = url
        self.session = requests.Session()
        self.session.headers.update({"X-App-Id": "sandbox-app-id", "X-App-Token": "sandbox-app-token"})

    def get(self, path: str, **params) -> dict:
        response = self.session.get(self.url + "/sandbox/v1/" + path, params=params, timeout=30)
        response.raise_for_status()
        return response.json()

    def segment_id(self, name: str) -> str:
        return next(s["id"] for s in self.get("segments", limit=100)["data"] if s["name"] == name)

    def walk(self, **filters) -> tuple[list[dict], int]:
        """Every customer matching ``filters`` by the ``starting_after`` cursor (newest first), and ``total``."""
        found, cursor = [], None
        while True:
            page = self.get("customers", limit=100, **filters, **({"starting_after": cursor} if cursor else {}))
            found += page["customers"]
            if not page["has_more"]:
                return found, page["total"]
            cursor = page["customers"][-1]["created_at"]


@pytest.fixture(scope="module")
def big(big_sandbox_dir, tmp_path_factory) -> BigSandbox:
    env = product_env(big_sandbox_dir, free_port(), SANDBOX_RATE_LIMIT_PER_MINUTE="0")
    product = ServedProduct(env, tmp_path_factory.mktemp("scale") / "gunicorn.log", task_worker=False).start()
    yield BigSandbox(product.url)
    product.stop()


def test_a_cursor_walk_returns_every_match_once_newest_first(big):
    assert big.get("customers", limit=1)["total"] == 100_000
    by_city, city_total = big.walk(city="WARSAW")
    by_segment, segment_total = big.walk(segment_id=big.segment_id("Warsaw customers"))
    for found, total in ((by_city, city_total), (by_segment, segment_total)):
        ids = [c["id"] for c in found]
        assert len(ids) == len(set(ids)) == total > 1000
        created = [c["created_at"] for c in found]
        assert created == sorted(created, reverse=True)
    # The auto-update segment "Warsaw customers" is address.city = Warsaw: the same people either way.
    assert {c["id"] for c in by_city} == {c["id"] for c in by_segment}
    assert all(c["address"]["city"] == "Warsaw" for c in by_city)


def test_paging_a_segment_to_its_end_gives_its_cursor_walk(big):
    """The deep pages of a 5,000-member segment are found another way than its first ones: same rows."""
    segment_id = big.segment_id("VIP customers")
    walked, total = big.walk(segment_id=segment_id)
    paged = []
    for number in range(1, 100):
        page = big.get("customers", limit=100, page=number, segment_id=segment_id)
        assert page["total"] == total
        paged += page["customers"]
        if not page["has_more"]:
            break
    assert [c["id"] for c in paged] == [c["id"] for c in walked]
    assert len({c["id"] for c in paged}) == total > 4000


def test_a_rare_name_walks_to_its_total_across_the_whole_history(big):
    found, total = big.walk(name="ZOË DVOŘ")
    assert 0 < total < 100
    assert len(found) == total
    assert all("zoë dvoř" in c["name"].lower() for c in found)
