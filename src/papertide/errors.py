"""Named errors. Entry points turn these into one clear line or a 4xx response."""


class PapertideError(Exception):
    """Base of every error papertide reports to a user."""


class SettingError(PapertideError):
    """A setting has an unknown name or a value of the wrong kind."""


class UnknownSource(PapertideError):
    """No source plugin by that name."""


class SourceUnavailable(PapertideError):
    """A source could not be reached or answered with an error."""


class SourceGarbage(PapertideError):
    """A source answered with something that is not what it should send."""


class InvalidRecord(PapertideError):
    """One record from a source cannot be stored; the batch goes on without it."""


class StoreError(PapertideError):
    """The store cannot be opened or is in an unexpected state."""


class StoreUnavailable(StoreError):
    """The store's server cannot be reached or was lost; trying again later may work."""


class PaperNotFound(PapertideError):
    """No paper with that id is in the store."""


class BadInput(PapertideError):
    """A value given by the user cannot be understood."""


class UnknownCategory(BadInput):
    """A category no stored paper has (a typo such as cs.XX): named in the error, not silently empty."""


# -- digest (issue 6) --------------------------------------------------------------
class InvalidSubscription(BadInput):
    """A subscription has a bad address, time zone, hour, frequency or topic."""


class UnknownTimeZone(InvalidSubscription):
    """A time zone name this machine's zone database does not know."""


class BadLink(PapertideError):
    """A confirm, manage or unsubscribe link is forged, expired or no longer valid."""


class UnknownSubscriber(PapertideError):
    """No subscriber with that address."""


class UnknownPerson(PapertideError):
    """Nobody signs in with that address."""


class JobBusy(PapertideError):
    """Another process (on this host or, with PostgreSQL, any host) runs the same job."""


class DigestBusy(JobBusy):
    """Another digest run holds the delivery lock."""


class SmtpUnavailable(PapertideError):
    """The SMTP server cannot be reached or refuses to talk; messages stay queued."""


# -- semantic search (issue 3) ----------------------------------------------------
class SemanticUnavailable(PapertideError):
    """Semantic search needs the optional extra papertide[semantic]."""


class EmbedderError(PapertideError):
    """An embedding model cannot be loaded or made."""


class NoVectors(PapertideError):
    """The store has no vectors for this embedder yet; run `papertide index`."""


class BadQueries(BadInput):
    """An evaluation query file or BEIR folder cannot be read."""
