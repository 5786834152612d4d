"""Family ``load``: problems found while reading files (reported by ``mle3.workspace``)."""

from .registry import declare

declare("load.yaml-syntax", "error", "A file is not valid YAML.", "Fix the syntax at the given line and column.")
declare(
    "load.yaml-too-large",
    "error",
    "A file is over 20 MiB, nested deeper than 100 levels, or its aliases expand to over 100,000 values.",
    "Split the file; do not use alias chains that multiply content.",
)
declare(
    "load.unreadable",
    "error",
    "A file cannot be read (permissions, encoding).",
    "Make the file readable by the user running mle3.",
)
declare(
    "load.schema",
    "error",
    "A field is missing, has the wrong type or an invalid value.",
    "Correct the field named in the finding; `mle3 schema` writes the JSON Schema of every kind.",
)
declare(
    "load.duplicate-key",
    "error",
    "A mapping has the same key twice; YAML keeps only the last value.",
    "Remove or rename one of the two keys.",
)
declare(
    "load.duplicate-id",
    "error",
    "Two items have the same id (data sets: the same id and version), or two model versions the same version; typically ids chosen by hand on two branches.",
    "Give one of them a new id or version; both locations are named.",
)
declare(
    "dataset.version-conflict",
    "error",
    "One data set version is registered twice with different data (different fingerprints), e.g. on two branches.",
    "Register one of them as a new version (`mle3 dataset register ... --version NEW`) and remove the other record.",
)
declare(
    "load.id-invalid",
    "error",
    "An item id (or a data set version) breaks the id pattern: letters, digits, '.', '_', '-', at most 128 characters, no '..', '/', spaces or control characters. The item is left out.",
    "Rename the id; references to it must change too.",
)
declare(
    "load.unknown-field",
    "warning",
    "A field name is close to a known field and is probably misspelled.",
    "Rename it to the suggested field; other unknown fields are kept silently.",
)
declare(
    "load.unrecognised-file",
    "info",
    "A YAML file under requirements/ or artifacts/ holds no item key.",
    "Ignore if the file is not an item; otherwise add the item key (requirement, dataset, training, ...).",
)
declare(
    "config.unknown-rule",
    "warning",
    "mle3.yaml overrides a rule id that does not exist.",
    "Use an id listed by `mle3 rules`.",
)
