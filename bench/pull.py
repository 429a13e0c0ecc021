"""How fast the puller copies models out of S3: one big object and a folder of small ones,
from moto (in this process) and s3rver (node), through the puller's own SigV4 client and,
for comparison, through boto3 on the same server. Writes bench/results/pull.json.

    python bench/pull.py [--rounds 5] [--mib 16] [--files 64]

moto serves from this process, so its numbers include the server's CPU; s3rver runs in
its own process. Each figure is the median over the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from modelmesh.runtimes.storage import Puller, StorageConfig, locate
from tests.support.storage import S3Server, moto_s3, s3rver, write_storage_config

RESULTS = Path(__file__).parent / "results"


def _median_seconds(run: Callable[[], None], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _measure(server: S3Server, work: Path, rounds: int, mib: int, files: int) -> dict[str, float]:
    bucket = server.new_bucket()
    client = server.client()
    client.put_object(Bucket=bucket, Key="big/model.bin", Body=os.urandom(mib * 1024 * 1024))
    for index in range(files):
        client.put_object(Bucket=bucket, Key=f"folder/part-{index}.bin", Body=os.urandom(16384))
    config_dir = work / f"config-{bucket}"
    write_storage_config(config_dir, "s3", server.entry(bucket))
    config = StorageConfig(config_dir)
    key = json.dumps({"storage_key": "s3"})

    def puller_pull(path: str) -> Callable[[], None]:
        def run() -> None:
            async def pull() -> None:
                puller = Puller(work / "cache", timeout_s=30)
                source = locate(path, key, config, pvc_mounts=work)
                assert source is not None
                await puller.pull("m", source)
                await puller.close()

            asyncio.run(pull())

        return run

    def boto3_big() -> None:
        client.download_file(bucket, "big/model.bin", str(work / "boto3.bin"))

    def boto3_folder() -> None:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="folder/")
        for page in pages:
            for item in page.get("Contents", []):
                client.download_file(bucket, item["Key"], str(work / "boto3-part.bin"))

    big = _median_seconds(puller_pull("big/model.bin"), rounds)
    folder = _median_seconds(puller_pull("folder"), rounds)
    return {
        "big_object_mib_per_s": round(mib / big, 1),
        "big_object_mib_per_s_boto3": round(mib / _median_seconds(boto3_big, rounds), 1),
        "folder_objects_per_s": round(files / folder, 1),
        "folder_objects_per_s_boto3": round(files / _median_seconds(boto3_folder, rounds), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mib", type=int, default=16)
    parser.add_argument("--files", type=int, default=64)
    args = parser.parse_args()
    results: dict[str, object] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load_average_before": os.getloadavg(),
        "settings": vars(args),
    }
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        work = Path(tmp)
        servers = {
            "moto": stack.enter_context(moto_s3()),
            "s3rver": stack.enter_context(s3rver(work / "s3rver-data")),
        }
        for name, server in servers.items():
            results[name] = _measure(server, work, args.rounds, args.mib, args.files)
            print(name, results[name], flush=True)
    results["load_average_after"] = os.getloadavg()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "pull.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
