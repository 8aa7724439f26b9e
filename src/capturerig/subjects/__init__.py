"""Subjects and consent."""

from capturerig.subjects._consent import ConsentDecision, ConsentGate, ConsentRefused, SubjectIdOnly

__all__ = ["ConsentDecision", "ConsentGate", "ConsentRefused", "SubjectIdOnly"]
