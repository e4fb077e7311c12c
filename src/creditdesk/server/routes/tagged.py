"""A resource's routes added to the app itself, under the resource's tag.

Not through an included APIRouter: FastAPI keeps an included router as one more level it
walks on every request (about 5 µs a router before the route is even found, and more for
a route inside one), where the app's own routes are one flat list.
"""

from fastapi import FastAPI


class TaggedRoutes:
    """`get`/`post`/`put`/`delete` as on the app, each route tagged `tag` in /openapi.json."""

    def __init__(self, app: FastAPI, tag: str) -> None:
        self.app = app
        self.tags = [tag]

    def get(self, path: str, **options):
        return self.app.get(path, tags=self.tags, **options)

    def post(self, path: str, **options):
        return self.app.post(path, tags=self.tags, **options)

    def put(self, path: str, **options):
        return self.app.put(path, tags=self.tags, **options)

    def delete(self, path: str, **options):
        return self.app.delete(path, tags=self.tags, **options)
