"""The two-way opt-in rule as pure functions (contacts.emarsys.consent)."""

from __future__ import annotations

import pytest

from contacts.emarsys import config
from contacts.emarsys.consent import (
    ABSENT,
    Base,
    Magento,
    Pending,
    adopt,
    resolve,
    safer,
    seen,
    wants_to_send,
)

MAP = config.DEFAULT_OPTIN_MAP
IN = Base(value=1, status=1, magento_at="2025-06-01T10:00:00+00:00", agreed=True)
OUT = Base(value=2, status=3, magento_at="2025-06-01T10:00:00+00:00", agreed=True)
SUBSCRIBED_SAME = Magento(1, "2025-06-01T10:00:00+00:00")
UNSUBSCRIBED_LATER = Magento(3, "2025-06-02T10:00:00+00:00")
SUBSCRIBED_LATER = Magento(1, "2025-06-02T10:00:00+00:00")


def test_the_opt_out_is_the_safer_value():
    assert safer(1, 2) == 2
    assert safer("", 1) == ""
    assert safer(2, "") == 2


def test_nothing_changed_sends_nothing_and_writes_nothing():
    decision = resolve(IN, SUBSCRIBED_SAME, 1, MAP)
    assert (decision.send, decision.write_status) == (None, None)
    assert decision.base.value == 1


def test_an_opt_out_made_in_emarsys_is_written_to_magento_not_overwritten():
    decision = resolve(IN, SUBSCRIBED_SAME, 2, MAP)
    assert decision.send is None
    assert decision.write_status == 3
    assert decision.base.value == 2


def test_a_magento_unsubscribe_is_sent_to_emarsys():
    decision = resolve(IN, UNSUBSCRIBED_LATER, 1, MAP)
    assert (decision.send, decision.write_status) == (2, None)


def test_a_newer_magento_subscription_turns_an_opt_out_back_into_an_opt_in():
    assert wants_to_send(OUT, SUBSCRIBED_LATER, MAP)
    decision = resolve(OUT, SUBSCRIBED_LATER, 2, MAP)
    assert decision.send == 1


def test_unsubscribe_and_subscribe_again_between_two_syncs_is_a_newer_subscription():
    # Same status as the base, but Magento's change time moved on: the person acted.
    again = Magento(1, "2025-06-03T10:00:00+00:00")
    assert wants_to_send(IN, again, MAP)
    assert resolve(IN, again, 1, MAP).send is None  # Emarsys already has it: no call


def test_an_opt_in_made_in_emarsys_is_a_newer_subscription_for_magento():
    decision = resolve(OUT, Magento(3, OUT.magento_at), 1, MAP)
    assert (decision.send, decision.write_status) == (None, 1)


@pytest.mark.parametrize(
    ("base", "magento", "remote", "send", "write"),
    [
        # Magento unsubscribed, Emarsys re-subscribed: order unknown → opt-out everywhere.
        (IN, UNSUBSCRIBED_LATER, 1, 2, None),
        # Magento: unsubscribed and subscribed again; Emarsys: opted out. Order unknown →
        # the opt-out is kept and written to Magento.
        (IN, SUBSCRIBED_LATER, 2, None, 3),
        # Magento subscribed, Emarsys opted out since: Magento is written unsubscribed.
        (Base(value="", status=2, agreed=True), SUBSCRIBED_LATER, 2, None, 3),
    ],
)
def test_when_both_changed_and_the_order_is_unknown_the_opt_out_wins(
    base, magento, remote, send, write
):
    decision = resolve(base, magento, remote, MAP)
    assert (decision.send, decision.write_status) == (send, write)
    assert decision.base.value == 2 or decision.send == 2


def test_a_magento_change_after_an_emarsys_change_was_seen_is_provably_later():
    # Emarsys' opt-out was seen while Magento's status dated from 10:00 (it could not be
    # written then); the person subscribed in Magento again at a later time.
    base = seen(IN, 2, SUBSCRIBED_SAME)
    assert base.pending == Pending(2, SUBSCRIBED_SAME.changed_at)
    decision = resolve(base, Magento(1, "2025-06-05T10:00:00+00:00"), 2, MAP)
    assert decision.send == 1
    assert decision.conflict


def test_a_contact_never_synced_adopts_emarsys_opt_out_over_a_magento_subscription():
    decision = resolve(Base(), Magento(1, None), 2, MAP)
    assert decision.send is None
    assert decision.write_status == 3


def test_a_new_contact_gets_magentos_value():
    decision = resolve(Base(), Magento(1, None), ABSENT, MAP)
    assert decision.send == 1


def test_an_empty_emarsys_value_is_nobodys_decision():
    decision = resolve(IN, SUBSCRIBED_SAME, "", MAP)
    assert (decision.send, decision.write_status) == (None, None)
    assert decision.base.value == 1


def test_a_status_without_an_opinion_never_overwrites_emarsys():
    pending_confirmation = Magento(2, "2025-06-02T10:00:00+00:00")
    assert not wants_to_send(IN, pending_confirmation, MAP)
    decision = resolve(IN, pending_confirmation, 1, MAP)
    assert decision.send is None


def test_an_opt_in_map_change_only_ever_lowers_consent():
    lowered = {**MAP, "1": 2}  # the merchant now sends subscribed as opted out
    assert wants_to_send(IN, SUBSCRIBED_SAME, lowered)
    assert resolve(IN, SUBSCRIBED_SAME, 1, lowered).send == 2
    raised = {**MAP, "3": "", "2": 1}
    assert not wants_to_send(OUT, Magento(3, OUT.magento_at), raised)
    decision = resolve(OUT, Magento(3, OUT.magento_at), 2, raised)
    assert decision.send is None


def test_a_base_written_by_us_adopts_magentos_new_change_time():
    written = Base(value=2, status=3, magento_at=None, agreed=True)
    moved = Magento(3, "2025-06-04T08:00:00+00:00")
    assert not wants_to_send(written, moved, MAP)  # our own write, not the person
    assert adopt(written, moved).magento_at == moved.changed_at


def test_contacts_synced_before_the_base_was_kept_use_what_was_sent():
    base = Base.of({"sent": {"31": 1, "3": "a@example.com"}})
    assert base.agreed
    assert base.value == 1
    assert base.status is None
    assert not wants_to_send(base, Magento(1, "2025-06-01T10:00:00+00:00"), MAP)
    assert wants_to_send(base, Magento(3, "2025-06-01T10:00:00+00:00"), MAP)


def test_the_base_round_trips_through_json():
    base = seen(IN, 2, SUBSCRIBED_SAME)
    assert Base.of({"optin": base.as_json()}) == base


def test_an_unsubscribed_status_can_never_be_mapped_to_opted_in():
    errors = config.validate({"optin_map": {"1": 1, "3": 1}})
    assert "never becomes an opt-in" in " ".join(errors["optin_map"])
