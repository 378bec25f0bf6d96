"""A burst of commits queues one drain now and one trailing drain, never one per commit, and loses none."""

import threading
import time

from guanxi.core.events.dispatch import _Coalescer


class RecordingTask:
    """Stands where the Celery task is published: records what would reach the broker."""

    def __init__(self):
        self.published: list[int] = []
        self.lock = threading.Lock()

    def publish_best_effort(self, args, kwargs):
        with self.lock:
            self.published.append(args[0])
        return True


def test_a_burst_of_kicks_publishes_one_drain_now_and_one_trailing_from_the_lowest_id():
    task, kicks = RecordingTask(), _Coalescer()
    kicks.kick(100, task)
    for first_id in (140, 120, 180, 110, 160):
        kicks.kick(first_id, task)
    assert task.published == [100]  # the first kick of a quiet period goes at once
    time.sleep(kicks.KICK_INTERVAL * 2)
    assert task.published == [100, 110]  # the others are one trailing drain from their lowest first id


def test_kicks_from_many_threads_lose_no_event_and_stay_few():
    """Every kick is followed by a published drain that starts at or below its id (so covers its events)."""
    log: list[tuple[str, int]] = []  # ("kick" | "drain", id) in the order they happened
    log_lock = threading.Lock()

    class LoggingTask(RecordingTask):
        def publish_best_effort(self, args, kwargs):
            with log_lock:
                log.append(("drain", args[0]))
            return super().publish_best_effort(args, kwargs)

    task, kicks = LoggingTask(), _Coalescer()
    ids = iter(range(1, 10_000))

    def writer():
        for _ in range(50):
            with log_lock:
                first_id = next(ids)
                log.append(("kick", first_id))
            kicks.kick(first_id, task)

    threads = [threading.Thread(target=writer) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    time.sleep(kicks.KICK_INTERVAL * 2)
    kicked = [i for kind, i in log if kind == "kick"]
    assert len(kicked) == 1000
    assert len(task.published) < 50  # 1,000 commits, a handful of drains
    for position, (kind, first_id) in enumerate(log):
        if kind == "kick":
            later = [i for k, i in log[position + 1 :] if k == "drain"]
            assert any(i <= first_id for i in later), f"kick {first_id} has no drain after it"
