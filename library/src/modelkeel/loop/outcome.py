"""How one run of the loop ended: the outcomes, which of them need a person, and their headline."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    NO_CHAMPION = "no-champion"
    NOTHING_NEW = "nothing-new"
    REFUSED = "refused"
    NO_RETRAIN = "no-retrain"
    KEEP_CHAMPION = "keep-champion"
    NEEDS_APPROVAL = "needs-approval"
    PROMOTE = "promote"
    ERROR = "error"

    @property
    def needs_attention(self) -> bool:
        """Whether a person should read the report: the model-health issue is opened or commented on."""
        return self in (Outcome.REFUSED, Outcome.KEEP_CHAMPION, Outcome.NEEDS_APPROVAL, Outcome.ERROR)

    @property
    def fails_the_run(self) -> bool:
        """Whether the run goes red: new data that breaks the contract (an error raises anyway)."""
        return self is Outcome.REFUSED

    def headline(self, challenger_version: str | None = None) -> str:
        return {
            Outcome.NO_CHAMPION: "No champion yet: nothing to compare with.",
            Outcome.NOTHING_NEW: "No new data: nothing to do.",
            Outcome.REFUSED: "New data refused: it breaks the schema.",
            Outcome.NO_RETRAIN: "New data, no drift: the champion stays.",
            Outcome.KEEP_CHAMPION: "The challenger did not beat the champion: nothing published.",
            Outcome.NEEDS_APPROVAL: (
                "A person must decide: nothing published. Review the reasons below (and the run's challenger "
                "artifact, when one was trained); the loop never releases such a challenger on its own."
            ),
            Outcome.PROMOTE: f"The challenger {challenger_version} beats the champion: publish it.",
            Outcome.ERROR: "The loop stopped with an error: see below; nothing was published.",
        }[self]
