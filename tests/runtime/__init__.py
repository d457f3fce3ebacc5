"""Supervision suite of the runtime (OTP supervisor_SUITE-style)."""
