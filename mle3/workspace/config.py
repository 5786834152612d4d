"""``mle3.yaml``: the project settings and policy of a workspace.

Every change to a rule's severity, and every ignored rule, needs a ``reason`` so that an
assessor reading the file sees why a check was relaxed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from ..errors import Mle3Error, WorkspaceNotFound
from ..findings import format_path
from ..paths import CONFIG_NAME  # re-exported: defined once, below the workspace
from .layout import artifacts_dir_problem
from .yamlpos import YamlProblem, line_of, parse_documents

#: thresholds are finite: ``drop > nan`` is false for every drop, so a NaN would pass all
Finite = Annotated[float, Field(allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RuleOverride(_Strict):
    severity: Literal["error", "warning", "info", "off"]
    reason: str = Field(min_length=3)

    @field_validator("severity", mode="before")
    @classmethod
    def _unquoted_off(cls, value: object) -> object:
        """YAML 1.1 reads an unquoted ``off`` as false; it means the severity ``off``."""
        return "off" if value is False else value


#: the roles each work product and each model status needs unless mle3.yaml says otherwise
DEFAULT_APPROVALS: dict[str, list[str]] = {
    "08-65": ["ml_lead"],
    "04-11": ["ml_engineer"],
    "11-07": ["data_owner"],
    "13-51": ["safety_assessor"],
    "13-65": ["ml_lead"],
    "11-06": ["ml_lead", "safety_assessor"],
    "validated": ["ml_lead"],
    "released": ["ml_lead", "safety_assessor"],
}


class Policy(_Strict):
    split_ratios: dict[str, tuple[Finite, Finite]] = Field(
        default_factory=lambda: {"train": (0.6, 0.8), "val": (0.1, 0.2), "test": (0.1, 0.2)}
    )
    #: work product id (e.g. "13-65") or "validated"/"released" -> required roles; what
    #: mle3.yaml names replaces that entry, the others keep their default (``[]``: none)
    approvals: dict[str, list[str]] = Field(default_factory=lambda: dict(DEFAULT_APPROVALS))

    @field_validator("approvals", mode="before")
    @classmethod
    def _over_the_defaults(cls, value: object) -> object:
        """An entry written in mle3.yaml overrides the default of that key only: adding the
        13-52 must not drop the roles a release needs (a gate nobody switched off)."""
        if isinstance(value, dict):
            return {**DEFAULT_APPROVALS, **value}
        return value

    trainer_may_approve_release: bool = False
    one_role_per_person: bool = True
    require_signatures: bool = False
    #: the keys of ``approvals`` mle3.yaml writes (the others are DEFAULT_APPROVALS)
    _written_approvals: frozenset[str] = PrivateAttr(default_factory=frozenset)

    @model_validator(mode="wrap")
    @classmethod
    def _remember_written(cls, data: Any, handler: Any) -> Any:
        policy = handler(data)
        raw = data.get("approvals") if isinstance(data, dict) else None
        if isinstance(raw, dict):
            policy._written_approvals = frozenset(str(k) for k in raw)
        return policy

    def approvals_source(self, key: str) -> str:
        """``mle3.yaml`` where the file writes ``policy.approvals.<key>``, else ``default``."""
        return "mle3.yaml" if key in self._written_approvals else "default"


class QuantizationPolicy(_Strict):
    max_map50_drop: Finite = 0.01


class TrainingCaveats(_Strict):
    """Thresholds of the ``training`` rules (``training.overfit``, ``training.underfit``)."""

    #: validation loss rising this many epochs in a row while training loss falls: overfitting
    overfit_epochs: int = Field(default=3, ge=1)
    #: final training loss above this share of the first epoch's: underfitting
    underfit_loss_ratio: Finite = Field(default=0.7, gt=0, le=1)
    #: val mAP50 moving less than ``flat_map50_delta`` over this many last epochs...
    flat_epochs: int = Field(default=5, ge=2)
    flat_map50_delta: Finite = Field(default=0.01, ge=0)
    #: ...while below this value: underfitting
    flat_map50_below: Finite = Field(default=0.5, ge=0, le=1)


class DatasetSettings(_Strict):
    """How ``check`` watches registered data (``datasets:`` in mle3.yaml)."""

    #: up to this many files ``check`` stats every file of a data set (finds in-place
    #: edits); above it ``check`` compares the data folders' mtimes with the last
    #: ``mle3 dataset verify`` (added, removed, renamed files) and leaves in-place edits to
    #: ``verify`` (size + mtime) and ``verify --deep`` (every file re-hashed)
    check_stat_limit: int = Field(default=50_000, ge=0)


ROOT_NAME = r"^[a-z][a-z0-9_]{0,31}$"


class SliceSettings(_Strict):
    """Per-condition evaluation (``mle3 evaluate``)."""

    #: a slice with fewer images is marked ``too_small``: shown, never counted as a pass
    min_images: int = Field(default=30, ge=1)


class Located(ValueError):
    """A validation problem of a key below the model being validated: ``loc`` (relative to
    that model) lets :func:`load_config` name the key's own line."""

    def __init__(self, message: str, loc: tuple[str | int, ...]) -> None:
        super().__init__(message)
        self.loc = loc


#: keys that would hold a secret: mle3.yaml is in git, secrets come from the environment
SECRET_KEY = r"(?i)^(.*[_-])?(password|passwd|pass|token|secret|api[_-]?key|credentials?)$"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
ADDRESS = r"^[^@\s<>,;\"']+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$"


def _refuse_secrets(value: object) -> object:
    import re

    if isinstance(value, dict):
        for key in value:
            if isinstance(key, str) and re.match(SECRET_KEY, key):
                raise Located(
                    f"{key}: secrets come from the environment, never from mle3.yaml (in git): "
                    f"{'token' if 'token' in key.lower() else 'password'}_env: NAME",
                    (key,),
                )
    return value


def _address(value: str) -> str:
    import re

    if not re.match(ADDRESS, value):
        raise Located(f"{value!r} is not an e-mail address like name@example.com", ())
    return value


class SmtpSettings(_Strict):
    """The mail server messages are sent through (``notifications.smtp``)."""

    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    #: starttls (port 587), ssl (SMTPS, port 465) or none (a relay on the local network)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    user: str | None = None
    #: the environment variable holding the password (never the password itself)
    password_env: str | None = Field(default=None, pattern=ENV_NAME)
    sender: str
    #: seconds one attempt may take (connect, each answer) before it gives up
    timeout: Finite = Field(default=10.0, gt=0, le=300)

    _secrets = model_validator(mode="before")(_refuse_secrets)

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        return _address(value)


class Webhook(_Strict):
    """A receiver of JSON messages over HTTP(S) (a chat or ALM tool)."""

    url: str
    #: the environment variable holding a bearer token (sent as ``Authorization: Bearer``)
    token_env: str | None = Field(default=None, pattern=ENV_NAME)
    timeout: Finite = Field(default=10.0, gt=0, le=300)

    _secrets = model_validator(mode="before")(_refuse_secrets)

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Located(f"webhook url {value!r} must be an http:// or https:// URL with a host", ())
        if parts.username or parts.password:
            raise Located("a webhook url carries no user or password: put a token in the environment (token_env)", ())
        return value


#: what an inform rule listens to: promote.<status>, approval.<work product or kind>, rejection.<...>
EVENT = r"^(promote\.[a-z_*]+|(approval|rejection)\.([0-9]{2}-[0-9]{2}|[a-z_]+|\*))$"


def known_event(event: str) -> bool:
    """Whether an inform rule's ``on:`` entry names an event mle3 sends (``*`` matches any)."""
    import re

    from ..vocab import MODEL_STATUSES
    from .schema import KINDS

    if not re.match(EVENT, event):
        return False
    family, _, what = event.partition(".")
    if family == "promote":
        return what == "*" or what in MODEL_STATUSES
    return what == "*" or "-" in what or (what in KINDS and not KINDS[what][1])


class InformRule(_Strict):
    """Who is told of which events: ``on:`` events, e-mail recipients and webhooks by name."""

    on: list[str] = Field(min_length=1)
    email: list[str] = Field(default_factory=list)
    webhooks: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _unquoted_on(cls, value: object) -> object:
        """YAML 1.1 reads an unquoted ``on`` key as true; it means ``on``."""
        if isinstance(value, dict) and True in value and "on" not in value:
            value = {("on" if k is True else k): v for k, v in value.items()}
        return value

    @field_validator("on")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        for i, event in enumerate(value):
            if not known_event(event):
                raise Located(
                    f"unknown event {event!r}: promote.<status> (draft, training, validated, released, rejected, "
                    "obsolete), approval.<work product or kind> or rejection.<...> (e.g. approval.11-07, "
                    "approval.dataset; * for any)",
                    (i,),
                )
        return value

    @field_validator("email")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for i, address in enumerate(value):
            try:
                _address(address)
            except Located as exc:
                raise Located(str(exc), (i,)) from None
        return value

    @model_validator(mode="after")
    def _someone(self) -> InformRule:
        if not self.email and not self.webhooks:
            raise Located("an inform rule names e-mail recipients (email:) or webhooks (webhooks:)", ())
        return self


class ReleaseSettings(_Strict):
    """``release:`` in mle3.yaml: where the release key that signs bundles is found. A
    path or an environment variable, never the key: mle3.yaml is in git."""

    #: the environment variable holding the key's path or its PEM text
    key_env: str | None = Field(default=None, pattern=ENV_NAME)
    #: the key's path (absolute, or ``~/...``; outside the workspace, so it never reaches git)
    key_file: str | None = None
    #: the environment variable holding the key's password, when it is encrypted
    password_env: str | None = Field(default=None, pattern=ENV_NAME)

    @model_validator(mode="before")
    @classmethod
    def _no_key_here(cls, value: object) -> object:
        if isinstance(value, dict):
            for key in value:
                if isinstance(key, str) and key.lower() in ("key", "private_key", "pem", "password"):
                    raise Located(
                        f"{key}: a release key (or its password) is never written in mle3.yaml, which is in git: "
                        "key_file: PATH (outside the workspace) or key_env: NAME",
                        (key,),
                    )
        return _refuse_secrets(value)

    @field_validator("key_file")
    @classmethod
    def _outside(cls, value: str | None) -> str | None:
        if value is not None:
            path = Path(value).expanduser()
            if not path.is_absolute():
                raise Located(
                    f"key_file {value!r} is a relative path: write an absolute or ~/ path to a key outside the "
                    "workspace (which git carries), or use key_env",
                    (),
                )
        return value


class Notifications(_Strict):
    """``notifications:`` in mle3.yaml: who is informed of what (13-52 communication evidence)."""

    smtp: SmtpSettings | None = None
    webhooks: dict[str, Webhook] = Field(default_factory=dict)
    inform: list[InformRule] = Field(default_factory=list)
    #: background: a detached process delivers right after the command; queue: messages wait
    #: in the outbox for ``mle3 notify`` (CI, tests, a cron job)
    deliver: Literal["background", "queue"] = "background"
    #: seconds before the first retry of an undelivered message; doubled per attempt up to max_backoff
    backoff: Finite = Field(default=60.0, ge=0)
    max_backoff: Finite = Field(default=3600.0, ge=0)

    _secrets = model_validator(mode="before")(_refuse_secrets)

    @field_validator("webhooks")
    @classmethod
    def _names(cls, value: dict[str, Webhook]) -> dict[str, Webhook]:
        import re

        for name in value:
            if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", name):
                raise Located(f"webhook name {name!r} must be letters, digits, _ . -", (name,))
        return value

    @model_validator(mode="after")
    def _references(self) -> Notifications:
        for i, rule in enumerate(self.inform):
            for j, name in enumerate(rule.webhooks):
                if name not in self.webhooks:
                    known = ", ".join(self.webhooks) or "none"
                    raise Located(
                        f"inform rule names webhook {name!r}, which notifications.webhooks does not define "
                        f"(defined: {known})",
                        ("inform", i, "webhooks", j),
                    )
            if rule.email and self.smtp is None:
                raise Located(
                    "inform rule sends e-mail but notifications.smtp names no mail server", ("inform", i, "email")
                )
        return self


class ProjectConfig(_Strict):
    project: str = "unnamed project"
    external: list[str] = Field(default_factory=list, description="glob patterns of ids owned by other tools")
    rules: dict[str, RuleOverride] = Field(default_factory=dict)
    policy: Policy = Field(default_factory=Policy)
    quantization: QuantizationPolicy = Field(default_factory=QuantizationPolicy)
    training_caveats: TrainingCaveats = Field(default_factory=TrainingCaveats)
    #: named places where data lives outside the workspace: name -> local path or fsspec
    #: URL (``s3://bucket/prefix``), or null when every machine maps it itself
    #: (``MLE3_DATA_ROOT_<NAME>`` or ``.mle3/local.yaml``)
    data_roots: dict[str, str | None] = Field(default_factory=dict)
    datasets: DatasetSettings = Field(default_factory=DatasetSettings)
    slices: SliceSettings = Field(default_factory=SliceSettings)
    #: 01-54: descriptions of hyperparameters (dotted configuration field -> text), over mle3's own
    hyperparameters: dict[str, str] = Field(default_factory=dict)
    #: folders (relative to the root) items are read from
    item_dirs: list[str] = Field(default_factory=lambda: ["requirements", "artifacts"])
    #: the folder mle3 writes its records to (runs, models, datasets, studies, audit); it
    #: is read like an item folder even when ``item_dirs`` does not name it
    artifacts_dir: str = Field("artifacts", min_length=1)
    #: who is informed of promotions and approvals, by e-mail and webhooks (13-52)
    notifications: Notifications = Field(default_factory=Notifications)
    #: where the key that signs release bundles is found (``mle3 report release``)
    release: ReleaseSettings = Field(default_factory=ReleaseSettings)

    @field_validator("data_roots")
    @classmethod
    def _root_names(cls, value: dict[str, str | None]) -> dict[str, str | None]:
        import re

        for name in value:
            if not re.match(ROOT_NAME, name):
                raise ValueError(
                    f"data root name {name!r} must be lower-case letters, digits and _ (it becomes "
                    f"MLE3_DATA_ROOT_{name.upper()})"
                )
        return value

    @model_validator(mode="after")
    def _item_dirs_inside(self) -> ProjectConfig:
        for d in self.item_dirs:
            if Path(d).is_absolute() or ".." in Path(d).parts:
                raise ValueError(f"item_dirs entry {d!r} must stay inside the workspace")
        problem = artifacts_dir_problem(self.artifacts_dir)
        if problem:
            raise ValueError(problem)
        return self


def find_root(start: Path | None = None) -> Path:
    """The workspace root: ``start`` or its nearest parent holding ``mle3.yaml``."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / CONFIG_NAME).is_file():
            return candidate
    raise WorkspaceNotFound(f"no {CONFIG_NAME} in {here} or any parent directory (use --workspace DIR or `mle3 init`)")


def load_config(root: Path) -> ProjectConfig:
    """Read and validate ``mle3.yaml``; raise a one-line :class:`Mle3Error` naming file:line."""
    path = root / CONFIG_NAME
    try:
        docs, _ = parse_documents(path.read_bytes())
    except YamlProblem as exc:
        raise Mle3Error(exc.message, file=CONFIG_NAME, line=exc.line) from None
    except OSError as exc:
        raise Mle3Error(f"cannot read: {exc.strerror}", file=CONFIG_NAME) from None
    data = docs[0] if docs else {}
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise Mle3Error("must be a mapping of settings", file=CONFIG_NAME, line=1)
    try:
        return ProjectConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, Located):  # the key below the model that is wrong: its own line
            loc, err["msg"] = loc + cause.loc, str(cause)
        raise Mle3Error(err["msg"], file=CONFIG_NAME, line=line_of(data, loc, 1), field=format_path(loc)) from None
