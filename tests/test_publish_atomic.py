"""publish() killed (SIGKILL) before each of its file-system operations, in a real subprocess:
outbox/<D> always holds one complete version, the previous or the new one, never none."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
AS_OF = "2025-04-30"
FILES = ("tier_list.csv", "tier_list.parquet", "lapsed_customers.csv", "manifest.json")

# Kills itself just before the n-th operation that changes the file system (audit hooks see
# every os.rename/chmod/remove/rmdir, shutil.rmtree and C call, renameat2 included).
CHILD = """
import errno, os, signal, sys
from pathlib import Path
from orchestration import outbox

outbox_dir, as_of, kill_at, can_swap = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4] == "swap"
if not can_swap:  # an OS without renameat2 (macOS): the two-rename fallback
    def no_swap(first, second):
        raise OSError(errno.ENOSYS, "renameat2 is not available in this C library")
    outbox._exchange = no_swap
CHANGES = {"os.rename", "os.remove", "os.rmdir", "os.chmod", "os.mkdir", "shutil.rmtree",
           "ctypes.call_function", "os.truncate", "os.link", "os.symlink"}
done = 0
def crash_before(event, args):
    global done
    if event in CHANGES:
        if done == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        done += 1
sys.addaudithook(crash_before)
outbox.publish(outbox_dir / ".staging" / as_of, outbox_dir, as_of)
print(f"published after {done} operations")
"""


def write_version(folder: Path, version: str) -> dict[str, bytes]:
    """Stage a version the way stage_extract does: into the folder, overwriting the files."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    contents = {name: f"{version}:{name}\n".encode() * 50 for name in FILES}
    for name, data in contents.items():
        (folder / name).write_bytes(data)
    return contents


def read_version(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def publish_killed_at(outbox_dir: Path, kill_at: int, can_swap: bool) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", CHILD, str(outbox_dir), AS_OF, str(kill_at), "swap" if can_swap else "no-swap"],
        cwd=REPO, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("can_swap", [True, False], ids=["renameat2-exchange", "two-rename-fallback"])
@pytest.mark.parametrize("previous", [True, False], ids=["replacing-a-day", "first-publish"])
def test_a_crash_at_any_point_of_publish_leaves_one_complete_version(tmp_path, can_swap, previous):
    crashes = 0
    for kill_at in range(100):
        outbox_dir = tmp_path / f"kill_{kill_at}" / "outbox"
        target = outbox_dir / AS_OF
        old = write_version(target, "old") if previous else None
        new = write_version(outbox_dir / ".staging" / AS_OF, "new")
        done = publish_killed_at(outbox_dir, kill_at, can_swap)
        if done.returncode == 0:
            assert read_version(target) == new
            assert not (outbox_dir / ".staging" / AS_OF).exists()
            assert not (outbox_dir / ".staging" / f"{AS_OF}.replaced").exists()
            break
        assert done.returncode == -signal.SIGKILL, done.stderr
        crashes += 1
        found = read_version(target) if target.exists() else None
        if found is None and previous and not can_swap:
            # The fallback's only window without the folder: between its two renames, with the
            # previous version complete beside it, put back by the next publish.
            assert read_version(outbox_dir / ".staging" / f"{AS_OF}.replaced") == old
        else:
            assert found in (old, new), f"killed before operation {kill_at}: outbox/{AS_OF} is " + (
                "missing" if found is None else "incomplete")
        # The next run stages its version again (into whatever a crash left) and publishes.
        again = write_version(outbox_dir / ".staging" / AS_OF, "again")
        assert publish_killed_at(outbox_dir, -1, can_swap).returncode == 0
        assert read_version(target) == again
        assert sorted(os.listdir(outbox_dir / ".staging")) == []
    else:
        pytest.fail("publish never completed")
    assert crashes >= (8 if previous else 5)  # every chmod, the swap or renames, the clean-up
