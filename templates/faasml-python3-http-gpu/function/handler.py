"""A new faasml function: replace this with a call into the faasml package."""


def handle(event, context):
    return {"statusCode": 200, "body": event.body, "headers": {"Content-Type": "application/octet-stream"}}
