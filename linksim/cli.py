"""The ``linksim`` command line: thin wrappers that parse arguments and call the library."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path
from typing import Sequence

from linksim.errors import LinksimError

EXAMPLES = """\
examples:
  linksim run scenarios/quickstart.yaml             run (or resume) a sweep
  linksim run scenarios/quickstart.yaml --fresh     discard earlier results and start over
  linksim validate scenarios/quickstart.yaml        check a scenario without running it
  linksim plot results/quickstart                   redraw the plots of a finished run
  linksim compare results/kodak-perceptual --baseline photo-deepjscc --metric lpips
                                                    paired per-image differences against a baseline
  linksim train deepjscc --config configs/train-deepjscc-cifar10-cpu.yaml
  linksim train diffusion --config configs/train-diffusion-cifar10-cpu.yaml
  linksim train segmenter --config configs/train-segmenter-camvid-cpu.yaml
  linksim train map-diffusion --config configs/train-map-diffusion-camvid-cpu.yaml
  linksim calibrate-mcs --out bler-rayleigh.csv --channel "{type: rayleigh}"
                                                    measure the BLER table the adaptive MCS uses
  linksim list                                      schemes, channels, codecs, MCS table, checkpoints,
                                                    reference sets
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="linksim",
        description="Simulate semantic and classic image transmission over wireless channels.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run", help="run a scenario's sweep (resumes where an earlier run stopped)",
        description="Run every point of SCENARIO's sweep grid and write rows.csv, summary.csv, "
        "plots, scenario.yaml and manifest.json to the output folder. Finished points are kept "
        "on disk, so re-running the same command resumes an interrupted run.",
    )
    run.add_argument("scenario", type=Path, metavar="SCENARIO", help="scenario YAML file")
    run.add_argument("--out", metavar="DIR", help="output folder (default: output.dir of the scenario, "
                     "else results/<name>)")
    run.add_argument("--num-images", type=int, metavar="N", help="override dataset.num_images "
                     "(e.g. a quick look on fewer images)")
    run.add_argument("--fresh", action="store_true", help="delete earlier results in the output folder first")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    run.add_argument("--threads", type=int, metavar="N", help="torch CPU threads (default: torch's choice; "
                     "use 1 when another job shares a small machine)")
    run.add_argument("--executor", choices=["local", "ray"], help="where points run (default: the scenario's "
                     "execution.executor, else local): in this process, or as tasks of Ray workers")
    run.add_argument("--address", metavar="ADDR", help="ray: 'auto' or HOST:PORT of a running cluster "
                     "(default: start a local one for this run)")
    run.add_argument("--workers", type=int, metavar="N", help="ray: worker processes (default: the cluster's "
                     "CPUs / --threads-per-worker)")
    run.add_argument("--gpus-per-worker", type=float, metavar="G", help="ray: GPUs each worker reserves (default 0)")
    run.add_argument("--threads-per-worker", type=int, metavar="T", help="ray: torch threads per worker (default 1)")

    validate = sub.add_parser("validate", help="check a scenario file and print its grid size",
                              description="Validate SCENARIO against the schema without running it.")
    validate.add_argument("scenario", type=Path, metavar="SCENARIO", help="scenario YAML file")

    plot = sub.add_parser("plot", help="redraw the plots of a finished run",
                          description="Redraw the plots in RESULTS_DIR from its summary.csv and scenario.yaml.")
    plot.add_argument("results_dir", type=Path, metavar="RESULTS_DIR", help="output folder of a run")

    compare = sub.add_parser(
        "compare", help="paired comparison of every scheme with a baseline scheme in a finished run",
        description="For each point of RESULTS_DIR/rows.csv, the mean per-image difference of METRIC "
        "between each scheme and BASELINE on the same images and trials, with its 95%% Student-t CI and "
        "the relative change of the mean. Prints a table; --out also writes it as CSV.",
    )
    compare.add_argument("results_dir", type=Path, metavar="RESULTS_DIR", help="output folder of a run")
    compare.add_argument("--baseline", required=True, metavar="SCHEME", help="scheme name to compare against")
    compare.add_argument("--metric", default="lpips", metavar="METRIC", help="metric column (default lpips)")
    compare.add_argument("--out", type=Path, metavar="FILE", help="also write the table as CSV")

    train = sub.add_parser(
        "train", help="train a model (deepjscc, diffusion, segmenter, map-diffusion)",
        description="Train a model from a YAML config; writes loss.csv, eval.csv, last.safetensors and "
        "state.pt to the config's out folder, checkpointing periodically. Uses CUDA when present.",
    )
    train.add_argument("model", choices=list(TRAINERS), help="which model to train: the DeepJSCC "
                       "encoder/decoder, the receiver's diffusion denoiser on a frozen DeepJSCC checkpoint, or "
                       "the CamVid segmenter that scores semantic preservation (miou), the map-conditioned denoiser "
                       "of the semantic-map schemes, or the SPADE generator of layered-gan")
    train.add_argument("--config", type=Path, required=True, metavar="FILE", help="training config YAML "
                       "(see configs/train-deepjscc-cifar10-cpu.yaml, configs/train-diffusion-cifar10-cpu.yaml)")
    train.add_argument("--resume", action="store_true", help="continue from the last checkpoint in the out folder")
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    train.add_argument("--time-budget", type=float, metavar="SECONDS", help="end within SECONDS of wall clock "
                       "(e.g. on a lent GPU): after 25 timed steps, steps is lowered to fit and the lowered value "
                       "is written to OUT/config.yaml, which is the config to --resume from")

    calibrate = sub.add_parser(
        "calibrate-mcs", help="measure the BLER table of the digital baseline's MCS set over a channel",
        description="Simulate every MCS (5G LDPC + QAM, random payloads) over a channel at the given "
        "block sizes and write the BLER-vs-SNR table that 'mcs: {policy: adaptive, table: FILE}' reads. "
        "Each point stops after --min-errors block errors or --max-blocks blocks.",
    )
    calibrate.add_argument("--out", type=Path, required=True, metavar="FILE", help="CSV file to write")
    calibrate.add_argument("--channel", default="{type: awgn}", metavar="YAML",
                           help='channel block as inline YAML, as in a scenario (default: "{type: awgn}")')
    calibrate.add_argument("--channel-uses", type=int, nargs="+", default=[256, 512, 1024], metavar="K",
                           help="complex channel uses per block (default: 256 512 1024 = 32x32 images at "
                           "ratios 1/12, 1/6, 1/3)")
    calibrate.add_argument("--max-blocks", type=int, default=2000, metavar="N", help="blocks per point at most (default 2000)")
    calibrate.add_argument("--min-errors", type=int, default=100, metavar="N", help="stop a point after N block errors (default 100)")
    calibrate.add_argument("--step-db", type=float, default=0.5, metavar="DB",
                           help="SNR step of the automatic grid (default 0.5; 1 suits the gentle slopes of fading)")
    calibrate.add_argument("--min-bler", type=float, default=1e-2, metavar="P",
                           help="each curve goes up in SNR until its BLER is below P (default 0.01)")
    calibrate.add_argument("--decoder", default="auto", metavar="NAME",
                           help="LDPC decoder: auto | sionna | fast, Sionna's BP or the compiled CPU one "
                           "(default auto: fast on a CPU)")
    calibrate.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    sub.add_parser("list", help="list schemes, channels, datasets, metrics, codecs, MCS table, checkpoints "
                   "and reference sets",
                   description="List everything a scenario can name, with options and defaults.")
    return parser


def _cmd_run(args: argparse.Namespace) -> int:
    from linksim.scenario import load_scenario
    from linksim.sweep import run_sweep

    execution = {field: value for field in ("executor", "address", "workers", "gpus_per_worker", "threads_per_worker")
                 if (value := getattr(args, field)) is not None}
    scenario = load_scenario(args.scenario).with_overrides(out=args.out, num_images=args.num_images, execution=execution)
    if args.threads is not None:
        if args.threads < 1:
            raise LinksimError(f"--threads must be >= 1, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)
    try:
        result = run_sweep(scenario, fresh=args.fresh, progress=not args.no_progress)
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished points are saved in {scenario.output_dir / 'points'}; "
              "run the same command again to resume", file=sys.stderr)
        return 130
    print(f"{result.computed_points} points computed, {result.reused_points} reused -> {result.out_dir}")
    for name in ["rows.csv", "summary.csv", "savings.csv", "manifest.json"]:
        if (result.out_dir / name).exists():
            print(f"  {result.out_dir / name}")
    for path in result.plots:
        print(f"  {path}")
    return 0


# model -> (module, config loader, training function); imported on use (they pull in torch)
TRAINERS = {
    "deepjscc": ("linksim.training.deepjscc", "load_train_config", "train_deepjscc"),
    "diffusion": ("linksim.training.diffusion", "load_diffusion_train_config", "train_diffusion"),
    "segmenter": ("linksim.training.segmentation", "load_segmenter_train_config", "train_segmenter"),
    "map-diffusion": ("linksim.training.map_diffusion", "load_map_diffusion_train_config", "train_map_diffusion"),
    "spade": ("linksim.training.spade", "load_spade_train_config", "train_spade"),
}


def _cmd_train(args: argparse.Namespace) -> int:
    module, load_name, train_name = TRAINERS[args.model]
    trainer = importlib.import_module(module)
    load_config, train = getattr(trainer, load_name), getattr(trainer, train_name)
    config = load_config(args.config)
    try:
        if args.time_budget is not None and args.time_budget <= 0:
            raise LinksimError(f"--time-budget: must be positive, got {args.time_budget}")
        out = train(config, resume=args.resume, progress=not args.no_progress, time_budget_s=args.time_budget)
    except KeyboardInterrupt:
        print(f"\ninterrupted: the last checkpoint is in {config.out}; add --resume to continue", file=sys.stderr)
        return 130
    print(f"trained {config.name} -> {out}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from linksim.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    grid = scenario.grid()
    n = scenario.dataset.num_images or "all"
    axes = (f"{len(scenario.schemes)} schemes x {len(scenario.channel)} channels x {len(scenario.sweep.snr_db)} SNRs x "
            f"{len(scenario.sweep.bandwidth_ratio)} bandwidth ratios x {len(scenario.sweep.roi_weight)} ROI weights")
    per_point = f"{n} images x {scenario.monte_carlo.trials} trials per point"
    if scenario.link is not None:
        speeds = len(scenario.sweep.speed or [0])
        delays = len(scenario.sweep.delay_frames or [0])
        axes += (f" x {len(scenario.rate_policy)} rate policies (adaptive ones at one ratio) x {speeds} speeds x "
                 f"{delays} feedback delays")
        per_point = f"{scenario.monte_carlo.trials} trials x {scenario.link.frames} frames per point, from {n} images"
    print(f"{args.scenario}: valid scenario '{scenario.name}': {len(grid)} points ({axes}), {per_point} "
          f"-> {scenario.output_dir}")
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    from linksim.sweep import replot

    for name in ["summary.csv", "scenario.yaml"]:
        if not (args.results_dir / name).is_file():
            raise LinksimError(f"{args.results_dir}: no {name} here; is this the output folder of a finished run?")
    for path in replot(args.results_dir):
        print(path)
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from linksim.results import paired_comparison, read_rows, write_csv

    path = args.results_dir / "rows.csv"
    if not path.is_file():
        raise LinksimError(f"{args.results_dir}: no rows.csv here; is this the output folder of a finished run?")
    try:
        table = paired_comparison(read_rows(path), args.metric, args.baseline)
    except ValueError as exc:
        raise LinksimError(f"{path}: {exc}") from None
    if args.out:
        write_csv(table, args.out)
    shown = table.drop(columns=["metric"]).rename(columns={"bandwidth_ratio": "ratio"})
    shown["relative"] = (100 * shown["relative"]).map("{:+.1f}%".format)
    print(f"{args.metric}: scheme - {args.baseline} on the same images (95% CI of the mean difference)")
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


def _cmd_calibrate_mcs(args: argparse.Namespace) -> int:
    import yaml
    from pydantic import TypeAdapter, ValidationError

    from linksim.digital.calibration import calibrate_main
    from linksim.digital.coded_modulation import resolve_decoder
    from linksim.scenario import ChannelEntry

    try:  # the names live with the decoders; check before any simulation starts
        resolve_decoder(args.decoder, "cpu")
    except ValueError as exc:
        raise LinksimError(f"--decoder: {exc}") from None

    try:
        channel = TypeAdapter(ChannelEntry).validate_python(yaml.safe_load(args.channel))
    except yaml.YAMLError as exc:
        raise LinksimError(f"--channel: not valid YAML ({str(exc).splitlines()[0]})") from None
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise LinksimError(f"--channel: {where + ': ' if where else ''}{error['msg']}") from None
    if not args.step_db > 0 or not 0 < args.min_bler < 0.9:
        raise LinksimError(f"--step-db must be > 0 and --min-bler in (0, 0.9); got {args.step_db}, {args.min_bler}")
    calibrate_main(channel, args.channel_uses, args.out, args.max_blocks, args.min_errors, not args.no_progress,
                   decoder=args.decoder, step_db=args.step_db, min_bler=args.min_bler)
    print(f"wrote {args.out}")
    return 0


def _options(config_class: type) -> str:
    fields = {k: v for k, v in config_class.model_fields.items() if k not in ("type", "name")}
    shown = [f"{k}=<required>" if v.is_required() else f"{k}={v.get_default(call_default_factory=True)!r}"
             for k, v in fields.items()]
    return ", ".join(shown) or "no options"


def _print_configurable(title: str, registry: dict[str, type]) -> None:
    """A registry of classes with a ``description`` and a pydantic ``config_class``."""
    print(title)
    for name, cls in registry.items():
        print(f"  {name:16s} {cls.description}\n  {'':16s} options: {_options(cls.config_class)}")


def _cmd_list(args: argparse.Namespace) -> int:
    from linksim.channels import CHANNELS
    from linksim.data import DATASETS
    from linksim.metrics import METRICS
    from linksim.references import REFERENCES, describe_reference, read_reference
    from linksim.schemes import SCHEMES
    from linksim.zoo import CHECKPOINTS

    _print_configurable("schemes (schemes: - {type: ..., <options>}):", SCHEMES)
    _print_configurable("channels (channel: {type: ..., <options>}):", CHANNELS)
    print("datasets (dataset: {name: ..., image_size, num_images, split, root, subset_seed}):")
    for name, info in DATASETS.items():
        print(f"  {name:16s} {info.description}")
    print("metrics (metrics: [...]; plots: <metric>_vs_snr):")
    for name, spec in METRICS.items():
        print(f"  {name:16s} {spec.label} ({'higher' if spec.higher_is_better else 'lower'} is better)")
    _print_codecs_and_mcs()
    print("checkpoints (checkpoint: <name> in a scheme):")
    if not CHECKPOINTS:
        print("  (none shipped yet)")
    for name, info in CHECKPOINTS.items():
        print(f"  {name:24s} {info.summary}")
    print("reference sets (references: [<name> | FILE.csv]; published points on <metric>_vs_snr plots):")
    for name in REFERENCES:
        print(f"  {name:24s} {describe_reference(read_reference(name))}")
    return 0


def _print_codecs_and_mcs() -> None:
    from linksim.codecs import CODECS
    from linksim.digital import BLER_TABLES, MCS_TABLE, bler_table

    print("source codecs (digital / capacity schemes: source_codec: ...):")
    for name, codec in CODECS.items():
        print(f"  {name:16s} {codec.description}")
    k = 1024
    print("MCS table: TS 38.214 Table 5.1.3.1-2 (digital scheme: mcs: {policy: fixed | adaptive | oracle}); "
          f"SNR [dB] at 10% BLER for {k} channel uses in each shipped calibration (mcs.table: auto picks the "
          "channel's, AWGN's if it has none):")
    tables = {name: bler_table(name) for name in BLER_TABLES}
    print(f"  {'':28s} {'':13s} " + " ".join(f"{name:>11s}" for name in tables))
    for mcs in MCS_TABLE:
        thresholds = " ".join(f"{table.threshold_db(mcs.index, k, 0.1):11.2f}" for table in tables.values())
        print(f"  {mcs.name:28s} {mcs.spectral_efficiency:5.3f} bit/use {thresholds}")
    for name, what in BLER_TABLES.items():
        print(f"  {name:12s} {what}")


COMMANDS = {"run": _cmd_run, "calibrate-mcs": _cmd_calibrate_mcs, "train": _cmd_train, "validate": _cmd_validate, "plot": _cmd_plot, "compare": _cmd_compare, "list": _cmd_list}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``linksim`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        code = COMMANDS[args.command](args)
        sys.stdout.flush()  # inside the guard: a closed pipe surfaces here, not at interpreter exit
        return code
    except LinksimError as exc:
        print(f"linksim: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # `linksim list | head -1`: the reader left; what was written stands
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # an unwritable --out, a full disk, a folder where a file should be
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"linksim: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
