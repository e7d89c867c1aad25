# The example function: it imports what the "web-api" set delivers as layers.
import requests
import pydantic


def handler(event, context):
    return {"requests": requests.__version__, "pydantic": pydantic.VERSION}
