"""Actor.run_tick: a poll loop keeps polling after a round raised, on a FakeClock."""

from __future__ import annotations

from runtime import Actor, Unavailable

from .supkit import Journal, probe, sup


class Poller(Actor):
    """Polls every second; its second round fails with a typed error (a store outage)."""

    kind = "poller"

    def setup(self) -> None:
        self.rounds = 0
        self.schedule_tick(1.0)

    def _round(self) -> None:
        self.rounds += 1
        self.config.journal.add("round", self.path, str(self.rounds))
        if self.rounds == 2:
            raise Unavailable("store unavailable")

    def handle(self, message):
        if self.run_tick(message, 1.0, self._round):
            return None
        if message == "rounds":
            return self.rounds
        return super().handle(message)


def test_a_round_that_raised_a_typed_error_does_not_stop_the_poll_loop(tree, clock):
    journal = Journal()
    t = tree(sup(probe("poller", actor=Poller, journal=journal)))
    for expected in (1, 2, 3, 4):
        clock.advance(1.0)
        assert t.reg.ask("poller", "rounds", timeout=5) == expected
    info = t.describe()["poller"]
    assert info.restarts == 0                          # an answer, not a crash: same instance
    assert [e[2] for e in journal.entries if e[0] == "round"] == ["1", "2", "3", "4"]
