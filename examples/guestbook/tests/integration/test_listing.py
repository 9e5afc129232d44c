import json
import os
import uuid
from unittest import TestCase

import boto3

# These tests run against a deployed stack, found by its name in AWS_SAM_STACK_NAME
# (the stack_name that `sam deploy` was given).


class TestListFunction(TestCase):
    """ListFunction, invoked directly, returns what is in the table for one guest."""

    @classmethod
    def setUpClass(cls) -> None:
        stack_name = os.environ.get("AWS_SAM_STACK_NAME")
        if not stack_name:
            raise RuntimeError(
                "AWS_SAM_STACK_NAME is not set: export the name of the deployed guestbook stack"
            )
        client = boto3.client("cloudformation")
        stacks = client.describe_stacks(StackName=stack_name)["Stacks"]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0]["Outputs"]}
        cls.function_arn = outputs["ListFunction"]
        cls.table = boto3.resource("dynamodb").Table(outputs["GuestbookTableName"])
        cls.lambda_client = boto3.client("lambda")

    def invoke(self, payload):
        response = self.lambda_client.invoke(
            FunctionName=self.function_arn, Payload=json.dumps(payload)
        )
        body = json.loads(response["Payload"].read())
        self.assertNotIn("FunctionError", response, body)
        return body

    def test_a_new_guest_has_no_signatures(self):
        guest = f"guest-{uuid.uuid4().hex[:8]}"

        self.assertEqual(
            self.invoke({"guest": guest}), {"guest": guest, "count": 0, "signatures": []}
        )

    def test_signatures_are_listed_oldest_first(self):
        guest = f"guest-{uuid.uuid4().hex[:8]}"
        for signed_at, note in [
            ("2024-05-02T09:00:00+00:00", "again"),
            ("2024-05-01T09:00:00+00:00", "first"),
        ]:
            self.table.put_item(Item={"guest": guest, "signed_at": signed_at, "note": note})

        body = self.invoke({"guest": guest})

        self.assertEqual(body["count"], 2)
        self.assertEqual([s["note"] for s in body["signatures"]], ["first", "again"])
