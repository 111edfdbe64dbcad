"""``fleet data synth | card | public | augment``: the synthetic corpus, data cards, the public
benchmark sets, and augmented transfer sets for distillation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from models.errors import ModelsError


def _fail(exc: Exception) -> typer.Exit:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


def synth_command(
    seed: Annotated[int, typer.Option(help="The corpus is a pure function of the options")] = 0,
    out: Annotated[Path, typer.Option(help="Output directory")] = Path("var/data/synth"),
    per_phase: Annotated[
        int | None,
        typer.Option(min=16, help="Examples per phase, split 3/4 train, 1/8 valid, 1/8 test"),
    ] = None,
    train: Annotated[int, typer.Option(min=2, help="Train examples per phase")] = 6000,
    valid: Annotated[int, typer.Option(min=0, help="Validation examples per phase")] = 1000,
    test: Annotated[int, typer.Option(min=0, help="Test examples per phase")] = 1000,
    phases: Annotated[int, typer.Option(min=1, max=4, help="Drift phases 0..N-1")] = 3,
    label_noise: Annotated[float, typer.Option(help="Share of flipped train/valid labels")] = 0.02,
    ambiguous: Annotated[float, typer.Option(help="Share of two-label messages")] = 0.08,
    text_noise: Annotated[float, typer.Option(help="Chance of surface noise")] = 0.35,
    new_label: Annotated[bool, typer.Option(help="Phase 2 adds 拦截 (intercept)")] = True,
    holdout_templates: Annotated[
        float, typer.Option(help="Share of templates only in valid/test (unseen phrasing)")
    ] = 0.0,
) -> None:
    """Write the seeded bilingual logistics corpus with drift phases and its data card.

    Files: phase{k}/{train,valid,test}.jsonl, card.json, card.md. Same options, same bytes."""
    from models.data.synth import SynthConfig, write_corpus

    if per_phase is not None:
        valid = test = per_phase // 8
        train = per_phase - valid - test
    try:
        config = SynthConfig(
            seed=seed,
            train=train,
            valid=valid,
            test=test,
            phases=phases,
            label_noise=label_noise,
            ambiguous=ambiguous,
            text_noise=text_noise,
            new_label=new_label,
            holdout_templates=holdout_templates,
        )
        card = write_corpus(config, out)
    except ModelsError as exc:
        raise _fail(exc) from exc
    for phase in card["phases"]:
        counts = ", ".join(f"{s} {v['count']}" for s, v in phase["splits"].items())
        typer.echo(f"phase {phase['phase']}: {counts}; labels {' '.join(phase['labels'])}")
    typer.echo(f"wrote {out}/phase*/{{train,valid,test}}.jsonl and {out}/card.md")


def card_command(
    path: Annotated[
        str, typer.Argument(help="A .jsonl/.csv/.tsv file, or public:<banking|ecdt>:<split>")
    ],
    max_len: Annotated[int, typer.Option(help="Tokenizer max_len for the truncation share")] = 64,
) -> None:
    """Print a data card (counts per label and language, token lengths) as JSON."""
    from models.data import load_examples, load_public
    from models.data.card import examples_card
    from models.tokenizer import Tokenizer

    try:
        if path.startswith("public:"):
            _, name, split = [*path.split(":"), "", ""][:3]
            examples = load_public(name, split or "train")
        else:
            examples = load_examples(path)
        card = examples_card(examples, Tokenizer(max_len=max_len))
    except ModelsError as exc:
        raise _fail(exc) from exc
    typer.echo(json.dumps({"source": path, **card}, ensure_ascii=False, indent=2))


def public_command(
    name: Annotated[str, typer.Argument(help="banking (Banking77) or ecdt (SMP2017-ECDT)")],
    out: Annotated[Path, typer.Option(help="Output directory for train/valid/test.jsonl")],
) -> None:
    """Export a public benchmark set as train/valid/test JSONL (needs the data extra).

    The layout is what `fleet train student --data` reads."""
    from models.data import load_public, write_jsonl
    from models.data.loaders import example_record

    try:
        for split in ("train", "valid", "test"):
            count = write_jsonl(
                out / f"{split}.jsonl", (example_record(e) for e in load_public(name, split))
            )
            typer.echo(f"{out}/{split}.jsonl: {count} examples")
    except ModelsError as exc:
        raise _fail(exc) from exc


def augment_command(
    data: Annotated[Path, typer.Argument(help="Labeled .jsonl/.csv/.tsv to augment")],
    out: Annotated[Path, typer.Option(help="Output JSONL of unlabeled texts")],
    per_example: Annotated[int, typer.Option(min=1, help="New texts per example")] = 5,
    seed: Annotated[int, typer.Option()] = 0,
    p_mask: Annotated[float, typer.Option(help="Per-token masking probability")] = 0.1,
    p_synonym: Annotated[float, typer.Option(help="Per-token synonym probability")] = 0.1,
    p_swap: Annotated[
        float, typer.Option(help="Per-token probability of a unit seen in the same context")
    ] = 0.1,
    p_ngram: Annotated[float, typer.Option(help="Per-text n-gram sampling probability")] = 0.25,
) -> None:
    """Write an augmented, unlabeled transfer set for the teacher to label.

    Masking, synonym and context swaps, n-gram sampling (Tang et al. 2019); one JSON object per
    line."""
    from models.data import load_examples, write_jsonl
    from models.data.augment import AugmentConfig, augment_records

    try:
        config = AugmentConfig(p_mask=p_mask, p_synonym=p_synonym, p_swap=p_swap, p_ngram=p_ngram)
        examples = load_examples(data)
        records = augment_records(examples, per_example, seed, config)
        count = write_jsonl(out, records)
    except ModelsError as exc:
        raise _fail(exc) from exc
    typer.echo(f"wrote {count} augmented texts from {len(examples)} examples to {out}")


def register(app: typer.Typer) -> None:
    data_app = typer.Typer(
        help="Synthetic corpus, data cards, public sets, augmentation.", no_args_is_help=True
    )
    data_app.command("synth")(synth_command)
    data_app.command("card")(card_command)
    data_app.command("public")(public_command)
    data_app.command("augment")(augment_command)
    app.add_typer(data_app, name="data")
