"""Broker CPU per AMQP operation: what a lock, a channel, a publish and a get cost RabbitMQ.

Reads the CPU time (user + system) of the local RabbitMQ node's `beam.smp` from /proc before
and after N operations of each kind, sent one at a time from one connection, and prints the
broker's CPU per operation and the wall time per operation. Run it on the machine that runs the
broker, with nothing else using it; only one `beam.smp` may run (the first one found is read).

    python3 -m venv /tmp/amqpv && /tmp/amqpv/bin/pip install pika
    /tmp/amqpv/bin/python bench/broker/op_cost.py [--url amqp://guest:guest@127.0.0.1:5672/%2f] [-n 500]

Every queue it declares has a fresh random name and is deleted at the end. Used for
`bench/RESULTS.md`, "The broker lock without queue churn" (2026-12-07).
"""

import argparse
import os
import time
import uuid

import pika


def beam_cpu_seconds():
    """CPU seconds of the first `beam.smp` process found, or None."""
    tick = os.sysconf("SC_CLK_TCK")
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() != "beam.smp":
                    continue
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            continue
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="amqp://guest:guest@127.0.0.1:5672/%2f")
    ap.add_argument("-n", type=int, default=500, help="operations of each kind")
    args = ap.parse_args()
    if beam_cpu_seconds() is None:
        raise SystemExit("no beam.smp process on this machine")
    n = args.n
    run = uuid.uuid4().hex[:8]
    conn = pika.BlockingConnection(pika.URLParameters(args.url))
    other = pika.BlockingConnection(pika.URLParameters(args.url))
    ch = conn.channel()
    cleanup = []

    def measure(name, op):
        c0, t0 = beam_cpu_seconds(), time.monotonic()
        for i in range(n):
            op(i)
        c1, t1 = beam_cpu_seconds(), time.monotonic()
        print(f"{name:62s} broker CPU {1000 * (c1 - c0) / n:6.3f} ms   wall {1000 * (t1 - t0) / n:6.3f} ms")

    # The first lock design: a channel and an exclusive queue per lock.
    def lock_queue(i):
        c = conn.channel()
        q = f"opcost.{run}.lq.{i}"
        c.queue_declare(q, exclusive=True, auto_delete=True)
        c.queue_delete(q)
        c.close()

    measure("lock as a queue: channel, exclusive declare, delete, close", lock_queue)

    def queue_churn(i):
        q = f"opcost.{run}.qc.{i}"
        ch.queue_declare(q, exclusive=True, auto_delete=True)
        ch.queue_delete(q)

    measure("exclusive queue declare + delete on a kept channel", queue_churn)
    measure("channel open + close", lambda i: conn.channel().close())

    # The lock since 2026-12-07: an exclusive consumer on a long-lived queue.
    stripes = [f"opcost.{run}.stripe.{i}" for i in range(64)]
    stripe_args = {"x-expires": 300_000, "x-max-length": 0}
    for s in stripes:
        ch.queue_declare(s, arguments=stripe_args)
        cleanup.append(s)

    def consumer_lock(i):
        tag = ch.basic_consume(stripes[i % 64], lambda *a: None, exclusive=True, auto_ack=True)
        ch.basic_cancel(tag)

    measure("exclusive consumer added + cancelled (existing queue)", consumer_lock)

    def consumer_lock_declared(i):
        s = stripes[i % 64]
        ch.queue_declare(s, arguments=stripe_args)
        tag = ch.basic_consume(s, lambda *a: None, exclusive=True, auto_ack=True)
        ch.basic_cancel(tag)

    measure("the same after declaring the queue again", consumer_lock_declared)

    def lock_now(i):
        c = conn.channel()
        s = stripes[i % 64]
        c.queue_declare(s, arguments=stripe_args)
        tag = c.basic_consume(s, lambda *a: None, exclusive=True, auto_ack=True)
        c.basic_cancel(tag)
        c.close()

    measure("lock as now: channel, declare, exclusive consume, cancel, close", lock_now)

    held = ch.basic_consume(stripes[0], lambda *a: None, exclusive=True, auto_ack=True)
    refused = 0

    def refused_lock(i):
        nonlocal refused
        c = other.channel()
        try:
            c.basic_consume(stripes[0], lambda *a: None, exclusive=True, auto_ack=True)
        except pika.exceptions.ChannelClosedByBroker:
            refused += 1

    measure("a refused exclusive consumer (another connection holds it)", refused_lock)
    ch.basic_cancel(held)
    if refused != n:
        print(f"warning: only {refused} of {n} exclusive consumers were refused")

    # The per-photo messages: quorum queues with publisher confirms.
    qq = f"opcost.{run}.quorum"
    ch.queue_declare(qq, durable=True, arguments={"x-queue-type": "quorum"})
    cleanup.append(qq)
    ch.confirm_delivery()
    body = b"x" * 400
    measure(
        "publish to a quorum queue, confirmed",
        lambda i: ch.basic_publish("", qq, body, pika.BasicProperties(delivery_mode=2)),
    )

    def get_ack(i):
        method, _, _ = ch.basic_get(qq)
        ch.basic_ack(method.delivery_tag)

    measure("basic.get + ack from a quorum queue", get_ack)
    for q in cleanup:
        ch.queue_delete(q)
    conn.close()
    other.close()


if __name__ == "__main__":
    main()
