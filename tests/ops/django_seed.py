#!/usr/bin/python3
"""Builds the source database of the import-django test with Django itself.

Writes a throwaway Django project into --dir, runs `manage.py makemigrations` and
`manage.py migrate` against --database-url, then creates users through Django's ORM,
each password hashed by Django's own hasher (PASSWORD_HASHERS set to one hasher at a
time; subclasses with small work factors, so the checks stay cheap on a busy machine). `--model custom` uses a custom user model (e-mail as USERNAME_FIELD, full_name,
phone_number, email_verified; no username, first_name or last_name), `--model default`
django.contrib.auth's User (the auth_user table).

Django 3.2 (Debian's python3-django) has no scrypt hasher (it came with Django 4.0):
that one password is computed here with hashlib.scrypt and stored in Django 4's format,
"scrypt$<N>$<salt>$<r>$<p>$<base64 of the 64-byte key>".
"""

import argparse
import base64
import hashlib
import os
import subprocess
import sys
import urllib.parse

CUSTOM_MODELS = '''
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone


class UserManager(BaseUserManager):
    def create_user(self, email, password=None, **extra):
        user = self.model(email=self.normalize_email(email), **extra)
        user.set_password(password)
        user.save()
        return user

    def create_superuser(self, email, password=None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    phone_number = models.CharField(max_length=32, blank=True)
    email_verified = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    USERNAME_FIELD = "email"
    objects = UserManager()
'''

# Django's own hashers with small work factors (the format is what matters here, and
# the test server shares a busy machine): Django's documented way to speed up tests.
HASHER_CLASSES = """
from django.contrib.auth import hashers


class PBKDF2(hashers.PBKDF2PasswordHasher):
    iterations = 1000


class PBKDF2SHA1(hashers.PBKDF2SHA1PasswordHasher):
    iterations = 1000


class Argon2(hashers.Argon2PasswordHasher):
    time_cost = 1
    memory_cost = 1024
    parallelism = 2


class BCryptSHA256(hashers.BCryptSHA256PasswordHasher):
    rounds = 5


class BCrypt(hashers.BCryptPasswordHasher):
    rounds = 5
"""

HASHERS = {
    "pbkdf2_sha256": "seedproject.hashers.PBKDF2",
    "pbkdf2_sha1": "seedproject.hashers.PBKDF2SHA1",
    "argon2": "seedproject.hashers.Argon2",
    "bcrypt_sha256": "seedproject.hashers.BCryptSHA256",
    "bcrypt": "seedproject.hashers.BCrypt",
}


def password_for(name):
    """The password of each seeded user (the test uses the same rule)."""
    return "Pw-" + name + "-Django-2024"


def write_project(root, model, url):
    os.makedirs(os.path.join(root, "seedproject"), exist_ok=True)
    with open(os.path.join(root, "seedproject", "__init__.py"), "w") as f:
        f.write("")
    with open(os.path.join(root, "seedproject", "hashers.py"), "w") as f:
        f.write(HASHER_CLASSES)
    apps = ["django.contrib.contenttypes", "django.contrib.auth"]
    extra = ""
    if model == "custom":
        apps.append("accounts")
        extra = 'AUTH_USER_MODEL = "accounts.User"\n'
        os.makedirs(os.path.join(root, "accounts"), exist_ok=True)
        with open(os.path.join(root, "accounts", "__init__.py"), "w") as f:
            f.write("")
        with open(os.path.join(root, "accounts", "models.py"), "w") as f:
            f.write(CUSTOM_MODELS)
    u = urllib.parse.urlparse(url)
    database = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": u.path.lstrip("/"),
        "USER": urllib.parse.unquote(u.username or ""),
        "PASSWORD": urllib.parse.unquote(u.password or ""),
        "HOST": u.hostname or "",
        "PORT": str(u.port or ""),
    }
    with open(os.path.join(root, "seedproject", "settings.py"), "w") as f:
        f.write("SECRET_KEY = 'throwaway-test-project'\n")
        f.write("USE_TZ = True\n")
        f.write("INSTALLED_APPS = %r\n" % apps)
        f.write("DATABASES = {'default': %r}\n" % database)
        f.write("DEFAULT_AUTO_FIELD = 'django.db.models.AutoField'\n")
        # Users made without override_settings (the unusable one, the other rows) use PBKDF2.
        f.write("PASSWORD_HASHERS = %r\n" % list(HASHERS.values()))
        f.write(extra)
    with open(os.path.join(root, "manage.py"), "w") as f:
        f.write(
            "import os, sys\n"
            "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'seedproject.settings')\n"
            "from django.core.management import execute_from_command_line\n"
            "execute_from_command_line(sys.argv)\n"
        )


def manage(root, *args):
    subprocess.run([sys.executable, "manage.py", *args], cwd=root, check=True, stdout=subprocess.DEVNULL)


def django_scrypt(password, salt, n=2**12, r=8, p=1):
    key = hashlib.scrypt(password.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=0, dklen=64)
    return "scrypt$%d$%s$%d$%d$%s" % (n, salt, r, p, base64.b64encode(key).decode("ascii").strip())


def seed_custom(User, override_settings):
    for name, hasher in HASHERS.items():
        with override_settings(PASSWORD_HASHERS=[hasher]):
            User.objects.create_user(name + "@django.example", password_for(name), full_name="User " + name,
                                     phone_number="+4930123456", email_verified=True)
    scrypt_user = User.objects.create_user("scrypt@django.example", None, full_name="User scrypt",
                                           email_verified=True)
    User.objects.filter(pk=scrypt_user.pk).update(password=django_scrypt(password_for("scrypt"), "Kx8sWq2nVb7yTz3c"))
    User.objects.create_user("inactive@django.example", password_for("inactive"), is_active=False,
                             email_verified=True)
    User.objects.create_user("unusable@django.example", None, full_name="No Password", email_verified=True)
    User.objects.create_user("unverified@django.example", password_for("unverified"), email_verified=False)
    User.objects.create_user("Mixed.Case@django.example", password_for("mixed"), email_verified=True)
    User.objects.create_user("mixed.case@django.example", password_for("mixed-duplicate"), email_verified=True)
    User.objects.create_user("idn@bücher.example", password_for("idn"), email_verified=True)
    User.objects.create_superuser("admin@django.example", password_for("admin"), email_verified=True)


def seed_default(User):
    User.objects.create_user("alice", "alice@django.example", password_for("alice"), first_name="Alice",
                             last_name="Liddell")
    User.objects.create_user("bob", "bob@django.example", password_for("bob"), is_active=False)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--model", choices=["custom", "default"], required=True)
    args = parser.parse_args()

    write_project(args.dir, args.model, args.database_url)
    if args.model == "custom":
        manage(args.dir, "makemigrations", "accounts")
    manage(args.dir, "migrate")

    sys.path.insert(0, args.dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "seedproject.settings"
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test.utils import override_settings

    User = get_user_model()
    if args.model == "custom":
        seed_custom(User, override_settings)
    else:
        seed_default(User)
    print("seeded %d users into %s" % (User.objects.count(), User._meta.db_table))


if __name__ == "__main__":
    main()
