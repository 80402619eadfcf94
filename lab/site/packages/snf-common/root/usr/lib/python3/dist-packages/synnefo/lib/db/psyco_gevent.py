# Named in /etc/synnefo/*.conf by the install guide and snf-deploy; a no-op here.
def make_psycopg_green():
    pass
