import os
print("ROOT CONFTEST IMPORTED")
os.environ.setdefault("SECRET_KEY", "test-x")
