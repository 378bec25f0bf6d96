"""The e-mail channel: SMTP through Django's e-mail framework, HTML + text, Reply-To per store."""

from __future__ import annotations

import smtplib
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.message import make_msgid
from django.template.loader import render_to_string

from guanxi.messaging.channels import Outgoing, SendResult


class EmailProvider:
    name = "smtp"

    def __init__(self, connection: Any = None):
        self._connection = connection

    def send(self, batch: list[Outgoing]) -> list[SendResult]:
        results: list[SendResult] = []
        connection = self._connection or get_connection(fail_silently=False)
        try:
            connection.open()
        except (OSError, smtplib.SMTPException) as exc:
            return [SendResult(o.message_id, "temporary", error=f"connect: {exc}"[:255]) for o in batch]
        try:
            for item in batch:
                results.append(self._send_one(connection, item))
        finally:
            try:
                connection.close()
            except (OSError, smtplib.SMTPException):
                pass
        return results

    def _send_one(self, connection: Any, item: Outgoing) -> SendResult:
        msgid = make_msgid(domain=settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "guanxi")
        mail = EmailMultiAlternatives(
            subject=item.subject,
            body=item.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[item.to],
            reply_to=[item.reply_to] if item.reply_to else None,
            headers={"Message-ID": msgid, "X-Guanxi-Message": str(item.message_id)},
            connection=connection,
        )
        mail.attach_alternative(render_to_string("messaging/email.html", {"item": item}), "text/html")
        try:
            mail.send()
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _msg in exc.recipients.values()]
            kind = "temporary" if codes and all(400 <= c < 500 for c in codes) else "permanent"
            # 550/551/553 on RCPT: no such mailbox, the address is bad for every purpose
            invalid = kind == "permanent" and bool(codes) and all(c in (550, 551, 553) for c in codes)
            return SendResult(item.message_id, kind, error=str(exc.recipients)[:255], invalid_address=invalid)
        except smtplib.SMTPResponseException as exc:
            kind = "temporary" if 400 <= exc.smtp_code < 500 else "permanent"
            return SendResult(item.message_id, kind, error=f"{exc.smtp_code} {exc.smtp_error!r}"[:255])
        except (TimeoutError, OSError, smtplib.SMTPException) as exc:
            return SendResult(item.message_id, "temporary", error=str(exc)[:255])
        return SendResult(item.message_id, "accepted", provider_message_id=msgid.strip("<>")[:100])
