"""Send one e-mail through the configured SMTP server (standard library only)."""

from __future__ import annotations

import os
import smtplib
import ssl

from ..workspace.config import SmtpSettings


class SendError(Exception):
    """The attempt finished without delivery; the message says why, in one line."""


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]


def send(settings: SmtpSettings, sender: str, recipients: list[str], data: bytes) -> None:
    """Deliver ``data`` (the whole message, as sent) to ``recipients``; raise
    :class:`SendError` when the server refuses, times out (``settings.timeout`` per
    exchange) or answers with an error."""
    password = os.environ.get(settings.password_env) if settings.password_env else None
    if settings.password_env and password is None:
        raise SendError(
            f"the environment variable {settings.password_env} (notifications.smtp.password_env) is not set"
        )
    try:
        if settings.security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        with client:
            if settings.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if settings.user:
                client.login(settings.user, password or "")
            refused = client.sendmail(sender, recipients, data)
        if refused:
            raise SendError("refused recipients: " + ", ".join(f"{a} ({c[0]})" for a, c in sorted(refused.items())))
    except SendError:
        raise
    except (OSError, smtplib.SMTPException, ValueError) as exc:
        raise SendError(one_line(exc)) from None
