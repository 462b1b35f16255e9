"""Render the demo catalog into a folder: python -m humsearch.demo DEST"""

import argparse

from tqdm import tqdm

from humsearch.demo.catalog import build_demo_catalog


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m humsearch.demo", description=__doc__)
    parser.add_argument("dest", help="output folder (existing files are kept)")
    args = parser.parse_args()
    with tqdm(unit="tune") as bar:

        def progress(done: int, total: int, title: str) -> None:
            bar.total = total
            bar.set_postfix_str(title, refresh=False)
            bar.update(done - bar.n)

        paths = build_demo_catalog(args.dest, progress=progress)
    print(f"{len(paths)} tunes in {args.dest}")


if __name__ == "__main__":
    main()
