"""`python -m lineup_tools.modelkit.calibrate --data <LFW-layout dir>`: measure a face model's score table and write
it into its model card (the table `lineup.modelkit.calibration` reads at run time). A tool: it runs the
whole face chain of `lineup_tools.modelkit.evaluate` over a dataset.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from lineup.modelkit.calibration import DEFAULT_FMR, build_table, default_card_path, to_card


def main(argv: list[str] | None = None) -> int:
    from lineup_tools.modelkit import evaluate

    parser = argparse.ArgumentParser(prog="python -m lineup_tools.modelkit.calibrate",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="LFW-layout folder (pairs.txt + images/)")
    parser.add_argument("--backend", choices=("triton", "onnxruntime"), default="triton")
    parser.add_argument("--embeddings", type=Path, help="reuse embeddings saved by evaluate --save-embeddings")
    parser.add_argument("--model", default="", help="Triton model name (default: the model new collections pin)")
    parser.add_argument("--card", type=Path, help="model card to write into (default: the model's)")
    parser.add_argument("--dry-run", action="store_true", help="print the table, do not write the card")
    args = parser.parse_args(argv)
    from lineup.scoring import DEFAULT_FACE_MODEL

    model = args.model or DEFAULT_FACE_MODEL
    card_path = args.card or default_card_path(model)
    if args.embeddings:  # evaluate --save-embeddings: one array per model given to it
        saved = np.load(args.embeddings)
        key = f"embeddings_{model}" if f"embeddings_{model}" in saved.files else "embeddings"
        emb, names = saved[key], saved["identities"]
    else:
        from lineup.modelkit.backends import make_backend

        keys = evaluate.list_images(args.data / "images")
        chain = evaluate.FaceChain(make_backend(args.backend), models=[model])
        emb = chain.embed_files([evaluate.image_file(args.data / "images", k) for k in keys])
        names = np.array([k[0] for k in keys])
    _, ids = np.unique(names, return_inverse=True)
    genuine, impostor = evaluate.all_pairs(np.asarray(emb, np.float32), ids)
    cal = build_table(genuine, impostor)
    section = to_card(cal, dataset=f"{args.data.name}: {len(emb)} images, {len(set(names.tolist()))} identities",
                      pipeline=f"BlazeFace full-range -> joint dlib 5-point + BlazeFace alignment -> {model} "
                               f"(its crop, lineup.chips), crop + mirror averaged, L2-normalised, cosine")
    print(f"{cal.genuine_pairs} genuine pairs, {cal.impostor_pairs} impostor pairs")
    print(f"{'score':>8} {'FMR':>10} {'FNMR':>8} {'impostors':>10}")
    for r in cal.rows:
        print(f"{r.score:8.4f} {r.fmr:10.2e} {r.fnmr:8.4f} {r.impostors_at_or_above:10d}")
    print(f"default threshold (FMR {DEFAULT_FMR:g}): {section['default_threshold']:.4f}")
    if not args.dry_run:
        card = json.loads(card_path.read_text())
        card["calibration"] = section
        card_path.write_text(json.dumps(card, indent=2) + "\n")
        print(f"written to {card_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
