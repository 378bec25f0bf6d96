"""The e-mail channel: SMTP through Django's e-mail framework, HTML + text, Reply-To per store.

Unlike the SMS and WeChat providers it needs Django (settings, the mail backend, the HTML template),
so it is imported only when e-mail is sent, not by ``messaging.providers`` itself.
"""

from __future__ import annotations

import smtplib
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.message import make_msgid
from django.template.loader import render_to_string

from guanxi.messaging.providers.base import Outcome, Recipient, SendBatch, SendResult


class SmtpProvider:
    name = "smtp"
    max_batch = 100  # not an SMTP limit: the mails one connection carries before the queue checks back

    def __init__(self, connection: Any = None) -> None:
        self._connection = connection

    def send(self, batch: SendBatch) -> list[SendResult]:
        results: list[SendResult] = []
        connection = self._connection or get_connection(fail_silently=False)
        try:
            connection.open()
        except (OSError, smtplib.SMTPException) as exc:
            return [SendResult(r, Outcome.TEMPORARY, code="connect", message=str(exc)) for r in batch.recipients]
        try:
            for recipient in batch.recipients:
                results.append(self._send_one(connection, recipient))
        finally:
            try:
                connection.close()
            except (OSError, smtplib.SMTPException):
                pass
        return results

    def _send_one(self, connection: Any, item: Recipient) -> SendResult:
        msgid = make_msgid(domain=settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "guanxi")
        mail = EmailMultiAlternatives(
            subject=item.subject,
            body=item.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[item.to],
            reply_to=[item.reply_to] if item.reply_to else None,
            headers={"Message-ID": msgid, "X-Guanxi-Message": item.out_id},
            connection=connection,
        )
        mail.attach_alternative(render_to_string("messaging/email.html", {"item": item}), "text/html")
        try:
            mail.send()
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _msg in exc.recipients.values()})
            kind = Outcome.TEMPORARY if codes and all(400 <= c < 500 for c in codes) else Outcome.PERMANENT
            # "smtp.rcpt.550" (551, 553): no such mailbox, the address is bad for every purpose
            # (``INVALID_ADDRESS_CODES``); one mail has one recipient, so there is one code.
            code = f"smtp.rcpt.{codes[0]}" if len(codes) == 1 else "smtp.rcpt"
            return SendResult(item, kind, code=code, message=str(exc.recipients))
        except smtplib.SMTPResponseException as exc:
            kind = Outcome.TEMPORARY if 400 <= exc.smtp_code < 500 else Outcome.PERMANENT
            return SendResult(item, kind, code=f"smtp.{exc.smtp_code}", message=repr(exc.smtp_error))
        except (TimeoutError, OSError, smtplib.SMTPException) as exc:
            return SendResult(item, Outcome.TEMPORARY, code="smtp.error", message=str(exc))
        return SendResult(item, Outcome.ACCEPTED, provider_message_id=msgid.strip("<>")[:100], code="OK")
