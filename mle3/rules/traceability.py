"""Family ``trace``: broken or missing links between requirements, data, configs, models."""

from __future__ import annotations

from collections.abc import Iterator

from .registry import Context, Hit, rule


@rule(
    "trace.dangling-ref",
    "error",
    "A reference names an item that does not exist.",
    "Correct the id, add the missing item, or declare the id external in mle3.yaml (`external:`).",
)
def dangling_references(ctx: Context) -> Iterator[Hit]:
    for item, ref, target in ctx.graph.graph["references"]:
        if target is None and not ctx.ws.is_external(ref.target):
            yield Hit(item, f"{ref.relation} reference {ref.target!r} names no item", ref.path)


@rule(
    "trace.wrong-kind",
    "error",
    "A reference points to an item of the wrong kind (e.g. previous_version to a non-model).",
    "Point the field to an item of the kind named in the message.",
)
def wrong_kind(ctx: Context) -> Iterator[Hit]:
    for item, ref, target in ctx.graph.graph["references"]:
        if target is not None and target.kind not in ref.allowed_kinds:
            yield Hit(
                item,
                f"{ref.relation} {ref.target!r} is a {target.kind}, expected {' or '.join(ref.allowed_kinds)}",
                ref.path,
            )


@rule(
    "trace.requirement-uncovered",
    "error",
    "An ML data requirement is satisfied by no data set.",
    "List the requirement under `requirements:` of the data set version that satisfies it.",
)
def requirement_uncovered(ctx: Context) -> Iterator[Hit]:
    for req in ctx.ws.of_kind("requirement"):
        if req.type == "ml_data" and not ctx.satisfied_by.get(req.id):
            yield Hit(req, f"ML data requirement {req.id} is covered by no data set", ("type",))


@rule(
    "trace.dataset-no-requirement",
    "error",
    "A data set satisfies no requirement.",
    "Add the ML data requirements it satisfies under `requirements:`.",
)
def dataset_without_requirement(ctx: Context) -> Iterator[Hit]:
    for ds in ctx.ws.of_kind("dataset"):
        if not ds.requirements:
            yield Hit(ds, f"data set {ds.key} satisfies no requirement", ("requirements",))


@rule(
    "trace.config-no-dataset",
    "error",
    "A training configuration names no data set.",
    "Set `dataset:` to a data set id (latest version) or id-version.",
)
def config_without_dataset(ctx: Context) -> Iterator[Hit]:
    for cfg in ctx.ws.of_kind("training"):
        if not cfg.dataset:
            yield Hit(cfg, f"training configuration {cfg.id} names no data set", ("dataset",))


@rule(
    "trace.model-no-requirements",
    "error",
    "A model version traces to no requirement.",
    "List the requirements under `traceability.requirements`.",
)
def model_without_requirements(ctx: Context) -> Iterator[Hit]:
    for model in ctx.ws.of_kind("model_version"):
        if not model.traceability.requirements:
            yield Hit(model, f"model version {model.id} traces to no requirement", ("traceability",))


@rule(
    "trace.model-no-training",
    "error",
    "A model version names no training configuration or run.",
    "Set `training_run:` to the run or training configuration that produced it.",
)
def model_without_training(ctx: Context) -> Iterator[Hit]:
    for model in ctx.ws.of_kind("model_version"):
        if not model.training_run and not model.training_config:
            yield Hit(model, f"model version {model.id} names no training configuration or run", ("training_run",))


@rule(
    "trace.model-no-dataset",
    "error",
    "A model version names no data set version.",
    "Set `training_data.dataset_version` to the exact data set version (id-version).",
)
def model_without_dataset(ctx: Context) -> Iterator[Hit]:
    for model in ctx.ws.of_kind("model_version"):
        if not model.training_data.dataset_version:
            yield Hit(model, f"model version {model.id} names no data set version", ("training_data",))


@rule(
    "trace.previous-version-cycle",
    "error",
    "previous_version links form a cycle.",
    "Point previous_version of the oldest model in the cycle to nothing or to an older model.",
)
def previous_version_cycle(ctx: Context) -> Iterator[Hit]:
    # Every model has at most one previous_version, so the links form chains; walking
    # each chain once with a colouring finds every cycle in linear time.
    previous = {
        ctx.key(item): ctx.key(target)
        for item, ref, target in ctx.graph.graph["references"]
        if ref.relation == "previous_version" and target is not None
    }
    done: set[str] = set()
    for start in previous:
        walk: list[str] = []
        on_walk: set[str] = set()
        node: str | None = start
        while node is not None and node not in done and node not in on_walk:
            walk.append(node)
            on_walk.add(node)
            node = previous.get(node)
        if node is not None and node in on_walk:
            cycle = walk[walk.index(node) :]
            first = min(cycle)
            ordered = cycle[cycle.index(first) :] + cycle[: cycle.index(first)] + [first]
            yield Hit(
                ctx.ws.by_key[first],
                f"previous_version cycle: {' -> '.join(ordered)}",
                ("traceability", "previous_version"),
            )
        done.update(walk)


@rule(
    "trace.config-unused",
    "warning",
    "A training configuration is used by no run and no model version.",
    "Train with it (`mle3 train`), link a model version to it, or remove it.",
)
def config_unused(ctx: Context) -> Iterator[Hit]:
    for cfg in ctx.ws.of_kind("training"):
        users = {ctx.graph.nodes[n]["kind"] for n in ctx.graph.predecessors(cfg.id)}
        if not users & {"model_version", "run"}:
            yield Hit(cfg, f"training configuration {cfg.id} is used by no run or model version")


@rule(
    "trace.odd-cycle",
    "warning",
    "An ODD lists under `requirements` a requirement that names the ODD back with `odd:`: each rests on the other, "
    "so a change to either makes both stale.",
    "List under the ODD's `requirements` what it derives from (system requirements); the requirements that use the "
    "ODD name it with `odd:`.",
)
def odd_cycle(ctx: Context) -> Iterator[Hit]:
    for odd in ctx.ws.of_kind("odd"):
        for index, ref in enumerate(odd.requirements):
            req = ctx.ws.resolve(ref)
            if req is not None and req.kind == "requirement" and req.odd == odd.id:
                yield Hit(
                    odd,
                    f"{odd.id} lists {ref}, which names {odd.id} as its ODD: each rests on the other",
                    ("requirements", index),
                )


@rule(
    "trace.inverted-derivation",
    "warning",
    "A requirement that is not an ML data requirement (e.g. a performance requirement) is derived from an ML data "
    "requirement: the derivation runs the wrong way (data requirements derive from the ML requirements they serve).",
    "Derive the requirement from the system or ML requirement it refines; if the data requirement serves it, "
    "list it in the data requirement's `derived_from` instead.",
)
def inverted_derivation(ctx: Context) -> Iterator[Hit]:
    for item, ref, target in ctx.graph.graph["references"]:
        if ref.relation != "derived_from" or item.kind != "requirement" or target is None:
            continue
        if target.kind == "requirement" and target.type == "ml_data" and item.type != "ml_data":
            yield Hit(
                item,
                f"{item.type} requirement {item.id} is derived from ML data requirement {target.id}: "
                "a data requirement derives from the ML requirement it serves, not the other way",
                ref.path,
            )
