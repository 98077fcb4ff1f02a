"""The demo's mail catcher (issue 15): with no SMTP server configured and
NARYAD_DEV_MAIL_CATCHER on, outgoing e-mail is kept in `dev_mail` instead of dropped, and
admins read it at GET /api/dev/mail (and in the PWA). Depends on nothing of the domains:
server/notifications/delivery.py hands it the built message."""
