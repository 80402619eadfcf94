# gunicorn hooks for Synnefo services that use Archipelago (Pithos,
# Cyclades): the real hook sets up the xseg segment in each worker after
# fork. Lab stand-in: it only logs.
def post_fork(server, worker):
    server.log.info("archipelago hook: worker %s ready", worker.pid)
