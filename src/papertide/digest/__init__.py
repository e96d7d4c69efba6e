"""Daily and weekly digests: subscriptions, composing, the outbox and SMTP delivery.

Read in this order: ``subscriptions`` (who follows what, double opt-in), ``periods``
(when a digest is due), ``topics`` and ``compose`` (what it holds), ``render`` (the
mail), ``outbox`` (queueing, once per subscriber and period), ``deliver`` (SMTP),
``runner`` (one run), ``scheduler`` (the thread in ``serve``), ``routes`` (the links).
"""
