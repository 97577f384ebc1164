"""Property: whatever the order of events, Magento and Emarsys end with the same opt-in,
and no opt-out is ever lost.

Random interleavings of what people and the tool do — Magento subscription changes,
Emarsys opt-in changes (a form), edits of other fields, exports (polls), webhooks, the
daily back-sync and the reconcile — run against the simulators over real HTTP. Then the
tool settles (the schedules run a few more times) and:

* the two systems agree (Magento's status says what Emarsys' Opt-In says);
* when the person's last change was an opt-out (on either side), it stands. With two
  values this also means an opt-in only ever stands when the person's last change was one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacts.emarsys.optin import emarsys_optin_sync
from contacts.emarsys.reconcile import emarsys_reconcile
from contacts.emarsys.services import emarsys_realtime_sync
from contacts.models import ContactEntity, Customer, GuestBuyer, Subscriber
from profiles.models import Profile, Run
from profiles.services import runs

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

PEOPLE = ("reg@example.com", "guest@example.com")  # a registered customer and a guest
IN, OUT = 1, 2  # Emarsys Opt-In values; Magento: 1 subscribed, 3 unsubscribed


@dataclass
class World:
    env: Any
    subscriber_ids: dict[str, int] = field(default_factory=dict)
    customer_id: int = 0
    acts: dict[str, list[int]] = field(default_factory=dict)  # the people's own changes

    # -- reading the two systems ---------------------------------------------------------------

    def magento(self, email: str) -> int:
        rows = {s["subscriber_id"]: s for s in self.env.subscribers()}
        return IN if rows[self.subscriber_ids[email]]["subscriber_status"] == 1 else OUT

    def emarsys(self, email: str) -> int | None:
        for contact in self.env.contacts():
            if contact["fields"].get("3", "").lower() == email:
                value = contact["fields"].get("31")
                return int(value) if value else None
        return None

    # -- what people do -------------------------------------------------------------------------

    def magento_change(self, email: str, value: int) -> None:
        if self.magento(email) == value:
            return  # no change, no act
        self.env.patch_subscriber(
            self.subscriber_ids[email], subscriber_status=1 if value == IN else 3
        )
        self.acts[email].append(value)

    def emarsys_change(self, email: str, value: int) -> None:
        current = self.emarsys(email)
        if current is None or current == value:
            return
        requests.post(
            f"{self.env.em}/_sim/optin",
            json={"key_id": "3", "key_value": email, "opt_in": str(value)},
            timeout=5,
        ).raise_for_status()
        self.acts[email].append(value)

    def edit(self, email: str) -> None:
        if email == PEOPLE[0]:
            self.env.patch_customer(self.customer_id, lastname=f"L{len(self.acts[email])}x")

    # -- what the tool does ---------------------------------------------------------------------

    def export(self) -> None:
        self.env.tick()
        runs.run_start(profile=self.profile(), foreground=True)

    def webhook(self, email: str) -> None:
        row = next(
            s for s in self.env.subscribers() if s["subscriber_id"] == self.subscriber_ids[email]
        )
        emarsys_realtime_sync(
            profile=self.profile(), event={"event": "subscriber.saved", "subscriber": row}
        )

    def backsync(self) -> None:
        emarsys_optin_sync(profile=self.profile(), sleep=lambda s: None)

    def reconcile(self) -> None:
        emarsys_reconcile(profile=self.profile(), sleep=lambda s: None)

    def profile(self) -> Profile:
        return Profile.objects.select_related("client", "source_client").get(pk=self.env.profile.pk)


def fresh_world(env) -> World:
    """Both simulators and every local trace emptied: each example starts from nothing."""
    for server in (env.sims.magento, env.sims.emarsys):
        requests.post(f"{server.url.rstrip('/')}/_sim/reset", timeout=5).raise_for_status()
    env.sims.emarsys.app.export_polls = 0
    Run.objects.all().delete()
    ContactEntity.objects.all().delete()
    for model in (Customer, Subscriber, GuestBuyer):
        model.objects.all().delete()
    env.emarsys.configuration_data = {}
    env.emarsys.save()
    Profile.objects.filter(pk=env.profile.pk).update(state={})
    world = World(env=env, acts={email: [] for email in PEOPLE})
    customer = env.customer(email=PEOPLE[0], firstname="Reg", lastname="L")
    world.customer_id = customer["id"]
    world.subscriber_ids[PEOPLE[0]] = env.subscriber(PEOPLE[0], 1, customer_id=customer["id"])[
        "subscriber_id"
    ]
    world.subscriber_ids[PEOPLE[1]] = env.subscriber(PEOPLE[1], 1)["subscriber_id"]
    world.export()  # both exist in Emarsys, opted in
    return world


person = st.sampled_from(PEOPLE)
value = st.sampled_from([IN, OUT])
act = st.one_of(
    st.tuples(st.just("magento"), person, value),
    st.tuples(st.just("emarsys"), person, value),
)
step = st.one_of(
    act,
    act,  # people act more often than the schedules run
    st.tuples(st.just("magento"), person, value),
    st.tuples(st.just("emarsys"), person, value),
    st.tuples(st.just("edit"), person, st.just(0)),
    st.tuples(st.just("export"), st.just(""), st.just(0)),
    st.tuples(st.just("webhook"), person, st.just(0)),
    st.tuples(st.just("backsync"), st.just(""), st.just(0)),
    st.tuples(st.just("reconcile"), st.just(""), st.just(0)),
)


def play(world: World, steps: list[tuple[str, str, int]]) -> None:
    for kind, email, val in steps:
        if kind == "magento":
            world.magento_change(email, val)
        elif kind == "emarsys":
            world.emarsys_change(email, val)
        elif kind == "edit":
            world.edit(email)
        elif kind == "webhook":
            world.webhook(email)
        else:
            getattr(world, kind)()


def settle(world: World) -> None:
    """The schedules keep running: polls, the daily back-sync and reconcile."""
    for _ in range(2):
        world.export()
        world.backsync()
        world.reconcile()
        world.export()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, min_size=1, max_size=10))
def test_any_interleaving_converges_and_never_loses_an_opt_out(env, steps):
    world = fresh_world(env)
    play(world, steps)
    settle(world)
    for email in PEOPLE:
        magento, emarsys = world.magento(email), world.emarsys(email)
        assert magento == emarsys, (email, steps, world.acts[email])
        acts = world.acts[email]
        if acts and acts[-1] == OUT:
            assert emarsys == OUT, (email, steps, acts)
        if emarsys == IN:
            assert not acts or acts[-1] == IN, (email, steps, acts)


@pytest.mark.parametrize(
    "steps",
    [
        # Emarsys opt-out, other-field edit, export: the case merchants saw.
        [("emarsys", PEOPLE[0], OUT), ("edit", PEOPLE[0], 0), ("export", "", 0)],
        # Opt-out in Emarsys, then a newer subscription in Magento (after the back-sync).
        [("emarsys", PEOPLE[1], OUT), ("backsync", "", 0), ("magento", PEOPLE[1], IN)],
        # Both sides change between two syncs, webhook first.
        [("magento", PEOPLE[0], OUT), ("emarsys", PEOPLE[0], OUT), ("webhook", PEOPLE[0], 0)],
        [("emarsys", PEOPLE[0], OUT), ("magento", PEOPLE[0], OUT), ("magento", PEOPLE[0], IN)],
        # Unsubscribed and subscribed again in Magento, then opted out in Emarsys: the
        # order cannot be known across the systems, and the opt-out is the last change.
        [("magento", PEOPLE[1], OUT), ("magento", PEOPLE[1], IN), ("emarsys", PEOPLE[1], OUT)],
    ],
)
def test_known_interleavings(env, steps):
    world = fresh_world(env)
    play(world, steps)
    settle(world)
    for email in PEOPLE:
        assert world.magento(email) == world.emarsys(email)
        if world.acts[email] and world.acts[email][-1] == OUT:
            assert world.emarsys(email) == OUT
