"""pytest-cloudstack: an ephemeral CloudFormation stack per branch, exposed as pytest fixtures."""
