"""A Lambda TOKEN authorizer: the token "Bearer <user>" lets <user> in, except "mallory"."""


def handler(event, context):
    token = event["authorizationToken"]
    if not token.startswith("Bearer "):
        raise Exception("Unauthorized")  # API Gateway answers 401
    user = token.removeprefix("Bearer ")
    return {
        "principalId": user,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Deny" if user == "mallory" else "Allow",
                    "Resource": event["methodArn"],
                }
            ],
        },
    }
