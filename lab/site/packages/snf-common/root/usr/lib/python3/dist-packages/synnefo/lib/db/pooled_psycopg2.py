# Named in /etc/synnefo/*.conf by the install guide and snf-deploy. The real
# module pools connections; the stand-in keeps the name and does nothing.
def monkey_patch_psycopg2():
    pass
