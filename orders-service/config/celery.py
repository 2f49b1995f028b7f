from chassis.celery import make_celery

app = make_celery("orders")
