"""A long-running stand-in daemon: logs that it started (with its version),
runs CHECK every INTERVAL seconds and logs what it finds, stops on SIGTERM."""
import logging
import os
import signal
import sys
import time

from synnefo import lab


def run(name, logfile, check=None, interval=10):
    logging.basicConfig(filename=logfile, level=logging.INFO,
                        format="%(asctime)s " + name + "[%(process)d] [%(levelname)s] %(message)s")
    log = logging.getLogger(name)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    log.info("%s %s (%s) started", name, lab.VERSION, lab.DEBIAN_VERSION)
    last = None
    while not stop:
        if check:
            try:
                problem = check()
            except Exception as e:  # keep running, like the real daemons
                problem = "%s: %s" % (type(e).__name__, str(e).strip())
            if problem:
                log.error("%s", problem)
            elif last:
                log.info("recovered")
            last = problem
        for _ in range(interval * 10):
            if stop:
                break
            time.sleep(0.1)
    log.info("%s %s stopped", name, lab.VERSION)
    sys.exit(0)
