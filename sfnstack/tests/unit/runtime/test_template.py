"""Template resolution: intrinsics, parameters, conditions, Globals, layers, state machine
substitutions, and the errors for what cannot be resolved locally."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from sfnstack.lambdas.functions import resolve_functions
from sfnstack.template import (
    Template,
    TemplateError,
    load_template,
    parse_template_text,
    resolve_buckets,
    resolve_state_machines,
    substitute_definition,
)

FIXTURE = Path(__file__).parents[2] / "fixtures" / "runtime" / "template.yaml"
ACCOUNT = "123456789012"


def write_template(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(textwrap.dedent(body))
    return path


# -- the fixture stack --------------------------------------------------------------


def test_fixture_functions_resolve_names_arns_code_and_handlers() -> None:
    functions = resolve_functions(load_template(FIXTURE))
    tools = functions["ToolsFunction"]
    assert tools.name == "local-ToolsFunction"
    assert tools.arn == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:local-ToolsFunction"
    assert tools.code_dir == FIXTURE.parent / "functions" / "tools"
    assert tools.handler == "app.describe"
    assert tools.runtime == "python3.11"
    # FunctionName given with !Sub and the stack name pseudo parameter
    assert functions["DoubleFunction"].name == "local-double"
    # AWS::Lambda::Function with a local Code path
    standalone = functions["StandaloneFunction"]
    assert standalone.code_dir == FIXTURE.parent / "functions" / "standalone"
    assert standalone.timeout == 3 and standalone.memory_size == 128  # Lambda's defaults
    assert standalone.layers == []


def test_globals_merge_environment_layers_timeout_and_memory() -> None:
    functions = resolve_functions(load_template(FIXTURE))
    tools = functions["ToolsFunction"]
    assert tools.environment == {
        "DATA_BUCKET": "local-data-dev",  # !Ref of a bucket with a !Sub BucketName
        "STAGE": "dev",
        "GREETING": "hello",
        "MODE": "relaxed",  # !If on a condition
        "TOOLS_ARN": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:local-ShortFunction",
        "JOINED": "a-y-us-east-1",
    }
    assert tools.timeout == 10
    assert tools.memory_size == 256  # !FindInMap in Globals
    assert functions["ShortFunction"].timeout == 1  # the function's own value wins
    assert tools.layers == [FIXTURE.parent / "layers" / "shared" / "python"]


def test_parameter_overrides_change_conditions_and_mappings() -> None:
    template = load_template(FIXTURE, parameter_overrides={"Stage": "prod"})
    functions = resolve_functions(template)
    assert "ProdOnlyFunction" in functions
    assert functions["ToolsFunction"].environment["MODE"] == "strict"
    assert functions["ToolsFunction"].memory_size == 1024
    assert resolve_buckets(template)["DataBucket"] == "local-data-prod"
    dev = resolve_functions(load_template(FIXTURE))
    assert "ProdOnlyFunction" not in dev  # Condition: IsProd is false by default


def test_non_python_function_is_kept_but_marked_unsupported() -> None:
    node = resolve_functions(load_template(FIXTURE))["NodeFunction"]
    assert node.unsupported is not None and "nodejs20.x" in node.unsupported


def test_state_machine_substitutions_become_local_arns_names_and_numbers() -> None:
    machines = resolve_state_machines(load_template(FIXTURE))
    machine = machines["MapStateMachine"]
    assert machine.name == "fixture-map"
    assert machine.arn == f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:fixture-map"
    copy_all = machine.definition["States"]["CopyAll"]
    assert copy_all["MaxConcurrency"] == 4  # substituted outside a string: a number
    task = copy_all["ItemProcessor"]["States"]["Copy"]
    assert task["Resource"] == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:local-S3CopyFunction"
    params = machine.definition["States"]["DoubleFirst"]["Parameters"]
    assert params["FunctionName"] == "local-double"
    assert machine.definition["States"]["Done"]["Parameters"]["bucket"] == "local-data-dev"
    assert machine.definition_uri == FIXTURE.parent / "statemachine" / "map.asl.json"
    # AWS::StepFunctions::StateMachine with a !Sub DefinitionString
    inline = machines["InlineStateMachine"]
    assert inline.name == "fixture-inline"
    assert inline.definition["States"]["Fail"]["Resource"].endswith(":function:local-FailFunction")


def test_buckets_use_given_names_or_stack_derived_ones() -> None:
    template = load_template(FIXTURE, stack_name="MyStack")
    assert resolve_buckets(template) == {
        "DataBucket": "MyStack-data-dev",  # as given (CloudFormation would reject the case)
        "ScratchBucket": "mystack-scratchbucket",
    }


# -- intrinsics -----------------------------------------------------------------------


INTRINSICS = """\
    AWSTemplateFormatVersion: 2010-09-09
    Parameters:
      Names:
        Type: CommaDelimitedList
        Default: "a, b ,c"
      Count:
        Type: Number
        Default: 3
    Conditions:
      IsThree: !Equals [!Ref Count, "3"]
      IsNotThree: !Not [!Condition IsThree]
      Both: !And [!Condition IsThree, !Not [!Condition IsNotThree]]
      Either: !Or [!Condition IsNotThree, !Condition Both]
    Mappings:
      Sizes:
        small: {Mb: 128}
    Resources:
      Bucket:
        Type: AWS::S3::Bucket
      Queue:
        Type: AWS::SQS::Queue
      Fn:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: .
          Handler: app.handler
          Environment:
            Variables:
              SUB_VARS: !Sub ["${Greeting}, ${AWS::AccountId} ${!Literal}", {Greeting: hi}]
              BUCKET_ARN: !GetAtt Bucket.Arn
              BUCKET_ARN_LONG: {"Fn::GetAtt": [Bucket, Arn]}
              BUCKET_SUB: "${Bucket}/${Bucket.Arn}"
              NOT_SUB: "${Bucket}"
              JOINED: !Join [",", !Ref Names]
              SECOND: !Select [1, !Split ["/", "x/y/z"]]
              MAPPED: !FindInMap [Sizes, small, Mb]
              B64: !Base64 "hello"
              AZ: !Select [0, !GetAZs ""]
              COUNT: !Ref Count
              BOTH: !If [Both, "yes", "no"]
              EITHER: !If [Either, "yes", "no"]
              GONE: !If [IsNotThree, "present", !Ref AWS::NoValue]
              QUEUE_URL: !Ref Queue
              QUEUE_ARN: !GetAtt Queue.Arn
              PARTITION: !Sub "${AWS::Partition}.${AWS::URLSuffix}.${AWS::Region}.${AWS::StackName}"
"""


def test_intrinsic_functions(tmp_path: Path) -> None:
    template = load_template(write_template(tmp_path, INTRINSICS), stack_name="s")
    assert template.body["AWSTemplateFormatVersion"] == "2010-09-09"  # not a date
    env = resolve_functions(template)["Fn"].environment
    assert env == {
        "SUB_VARS": f"hi, {ACCOUNT} ${{Literal}}",
        "BUCKET_ARN": "arn:aws:s3:::s-bucket",
        "BUCKET_ARN_LONG": "arn:aws:s3:::s-bucket",
        "BUCKET_SUB": "${Bucket}/${Bucket.Arn}",  # a plain string: no Fn::Sub, no substitution
        "NOT_SUB": "${Bucket}",
        "JOINED": "a,b,c",  # CommaDelimitedList items are stripped
        "SECOND": "y",
        "MAPPED": "128",
        "B64": "aGVsbG8=",
        "AZ": "us-east-1a",
        "COUNT": "3",
        "BOTH": "yes",
        "EITHER": "yes",
        "QUEUE_URL": f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/s-Queue",
        "QUEUE_ARN": f"arn:aws:sqs:us-east-1:{ACCOUNT}:s-Queue",
        "PARTITION": "aws.amazonaws.com.us-east-1.s",
    }
    assert "GONE" not in env  # AWS::NoValue removes the key


def test_length_and_to_json_string_resolve_their_argument_first() -> None:
    template = Template(path=None, body={"Resources": {}})
    assert template.resolve({"Fn::Length": [1, 2, {"Ref": "AWS::Region"}]}) == 3
    as_json = template.resolve({"Fn::ToJsonString": {"a": [1, {"Ref": "AWS::Region"}]}})
    assert as_json == '{"a":[1,"us-east-1"]}'
    assert template.resolve({"Fn::And": [True, {"Fn::Not": [False]}]}) is True
    assert template.resolve({"Fn::Or": [False, {"Fn::Equals": [1, "1"]}]}) is True


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"Fn::If": [1, 2]}, r"here \(Fn::If\): needs \[condition, value_if_true"),
        ({"Fn::GetAtt": ["OnlyOne"]}, r"here \(Fn::GetAtt\): needs \[LogicalId, Attribute\]"),
        ({"Fn::Join": ["-"]}, r"here \(Fn::Join\): needs \[delimiter, \[values\]\]"),
        ({"Fn::Select": [0, "a"]}, r"here \(Fn::Select\): needs \[index, \[values\]\]"),
        ({"Fn::Split": "a"}, r"here \(Fn::Split\): needs \[delimiter, string\]"),
        ({"Fn::FindInMap": ["M", "k"]}, r"here \(Fn::FindInMap\): needs \[MapName"),
        ({"Fn::Equals": [1]}, r"here \(Fn::Equals\): needs \[value1, value2\]"),
        ({"Fn::Not": ["x"]}, r"here \(Fn::Not\): needs \[condition\]"),
        ({"Fn::And": []}, r"here \(Fn::And\): needs a list of conditions"),
        ({"Fn::Or": [True, "x"]}, r"here \(Fn::Or\): needs a list of conditions"),
        ({"Fn::Length": "abc"}, r"here \(Fn::Length\): needs a list"),
        ({"Fn::Transform": {"Name": "AWS::Other"}}, r"only AWS::Include is supported"),
        ({"Fn::Cidr": ["10.0.0.0/16", 1, 8]}, r"^here: intrinsic function Fn::Cidr is not"),
    ],
)
def test_intrinsic_argument_errors_name_the_function(value: dict, expected: str) -> None:
    template = Template(path=None, body={"Resources": {}})
    with pytest.raises(TemplateError, match=expected):
        template.resolve(value, "here")


def test_sub_with_resource_attributes(tmp_path: Path) -> None:
    template = load_template(write_template(tmp_path, INTRINSICS), stack_name="s")
    value = template.resolve({"Fn::Sub": "${Bucket}|${Bucket.Arn}|${Fn.Arn}"})
    assert (
        value == f"s-bucket|arn:aws:s3:::s-bucket|arn:aws:lambda:us-east-1:{ACCOUNT}:function:s-Fn"
    )


def test_short_form_tags_parse_to_long_form() -> None:
    parsed = parse_template_text(
        "a: !Ref X\nb: !GetAtt X.Arn\nc: !Sub [x, {}]\nd: !Condition C\ne: !ImportValue Y\n"
    )
    assert parsed == {
        "a": {"Ref": "X"},
        "b": {"Fn::GetAtt": ["X", "Arn"]},
        "c": {"Fn::Sub": ["x", {}]},
        "d": {"Condition": "C"},
        "e": {"Fn::ImportValue": "Y"},
    }


def test_json_templates_load(tmp_path: Path) -> None:
    path = tmp_path / "template.json"
    path.write_text(
        '{"Resources": {"B": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "bee"}}}}'
    )
    assert resolve_buckets(load_template(path)) == {"B": "bee"}


def test_globals_concatenate_layers_and_merge_environment(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "plain-layer").mkdir()
    (tmp_path / "py-layer" / "python" / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
    body = """\
        Globals:
          Function:
            Handler: app.handler
            Layers: [!Ref PyLayer]
            Environment:
              Variables: {A: global-a, B: global-b}
        Resources:
          PyLayer:
            Type: AWS::Serverless::LayerVersion
            Properties: {ContentUri: py-layer}
          PlainLayer:
            Type: AWS::Lambda::LayerVersion
            Properties: {Content: plain-layer}
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: code
              Layers:
                - !Ref PlainLayer
                - arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python311-x86_64:7
              Environment:
                Variables: {B: own-b, C: own-c}
    """
    fn = resolve_functions(load_template(write_template(tmp_path, body)))["Fn"]
    assert fn.handler == "app.handler"
    assert fn.environment == {"A": "global-a", "B": "own-b", "C": "own-c"}
    assert fn.layers == [
        tmp_path / "py-layer" / "python",
        tmp_path / "py-layer" / "python" / "lib" / "python3.11" / "site-packages",
        tmp_path / "plain-layer",  # no python/ dir: the content itself
    ]
    assert fn.external_layers == [
        "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python311-x86_64:7"
    ]


def test_definition_substitution_leaves_unknown_placeholders() -> None:
    text = '{"a": "${Known}", "b": ${Number}, "c": "${Unknown}", "d": ${Flag}}'
    assert (
        substitute_definition(text, {"Known": "k", "Number": 5, "Flag": True})
        == '{"a": "k", "b": 5, "c": "${Unknown}", "d": true}'
    )


# -- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ("X: !Ref Missing", r"Fn\.Properties\.Environment\.Variables\.X: Ref Missing"),
        ("X: !GetAtt Missing.Arn", r"Variables\.X: no resource named Missing"),
        ("X: !GetAtt Fn.Nope", r"Variables\.X: Fn::GetAtt Fn\.Nope"),
        ("X: !Sub '${Nope}'", r"Variables\.X: Ref Nope"),
        ("X: !ImportValue SharedVpc", r"Variables\.X.*SharedVpc.*another stack"),
        ("X: !If [NoSuchCondition, a, b]", r"condition NoSuchCondition is not defined"),
        ("X: !Select [5, [a]]", r"Variables\.X.*index 5 out of range"),
        ("X: !Cidr [a, b, c]", r"Fn::Cidr is not supported"),
        ("X: {Y: !Ref AWS::Nope}", r"Variables\.X\.Y: unknown pseudo parameter AWS::Nope"),
    ],
)
def test_unresolvable_references_name_resource_and_property(
    tmp_path: Path, variables: str, expected: str
) -> None:
    body = f"""\
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: .
              Handler: app.handler
              Environment:
                Variables:
                  {variables}
    """
    template = load_template(write_template(tmp_path, body))
    with pytest.raises(TemplateError, match=expected):
        resolve_functions(template)


def test_parameter_errors(tmp_path: Path) -> None:
    body = """\
        Parameters:
          Required: {Type: String}
          Choice: {Type: String, Default: a, AllowedValues: [a, b]}
        Resources: {}
    """
    path = write_template(tmp_path, body)
    with pytest.raises(TemplateError, match="parameter Required has no Default"):
        load_template(path)
    with pytest.raises(TemplateError, match="'c' is not one of"):
        load_template(path, parameter_overrides={"Required": "x", "Choice": "c"})
    with pytest.raises(TemplateError, match=r"undeclared parameters: \['Other'\]"):
        load_template(path, parameter_overrides={"Required": "x", "Other": "y"})
    assert load_template(path, parameter_overrides={"Required": "x"}).parameters == {
        "Required": "x",
        "Choice": "a",
    }


def test_missing_code_directory_and_definition_file_are_named(tmp_path: Path) -> None:
    body = """\
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: nowhere, Handler: app.handler, Runtime: python3.11}
          Machine:
            Type: AWS::Serverless::StateMachine
            Properties: {DefinitionUri: missing.asl.json}
    """
    template = load_template(write_template(tmp_path, body))
    with pytest.raises(
        TemplateError, match=r"Fn\.Properties\.CodeUri: .*nowhere is not a directory"
    ):
        resolve_functions(template)
    with pytest.raises(TemplateError, match=r"Machine\.Properties\.DefinitionUri: cannot read"):
        resolve_state_machines(template)


def test_unreadable_template_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="cannot read template"):
        load_template(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("Resources: [unclosed\n")
    with pytest.raises(TemplateError, match="not valid YAML"):
        load_template(bad)


def test_aws_include_inlines_the_snippet_with_its_intrinsics_resolved(tmp_path: Path) -> None:
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "openapi.yaml").write_text(
        "paths:\n  /runs:\n    post:\n      uri: !Sub 'arn:${AWS::Partition}:states:${Bucket}'\n"
    )
    body = """\
        Parameters:
          Spec: {Type: String, Default: api/openapi.yaml}
        Resources:
          Bucket: {Type: AWS::S3::Bucket, Properties: {BucketName: b}}
          Api:
            Type: AWS::Serverless::Api
            Properties:
              DefinitionBody:
                Fn::Transform:
                  Name: AWS::Include
                  Parameters: {Location: !Ref Spec}
              Elsewhere:
                Fn::Transform: {Name: AWS::Include, Parameters: {Location: s3://x/y.yaml}}
              Missing:
                Fn::Transform: {Name: AWS::Include, Parameters: {Location: absent.yaml}}
              Other:
                Fn::Transform: {Name: AWS::SecretsManager-2020-07-23}
    """
    template = load_template(write_template(tmp_path, body))
    props = template.resources["Api"]["Properties"]
    assert template.resolve(props["DefinitionBody"]) == {
        "paths": {"/runs": {"post": {"uri": "arn:aws:states:b"}}}
    }
    with pytest.raises(TemplateError, match=r"Api\.Elsewhere \(Fn::Transform\): .* is in S3"):
        template.resolve(props["Elsewhere"], "Api.Elsewhere")
    with pytest.raises(TemplateError, match=r"location 'absent\.yaml': cannot read"):
        template.resolve(props["Missing"])
    with pytest.raises(TemplateError, match="only AWS::Include is supported locally"):
        template.resolve(props["Other"])


OTHER_RESOURCES = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Worker:
    Type: AWS::StepFunctions::Activity
    Properties: {Name: review-queue}
  Unnamed:
    Type: AWS::StepFunctions::Activity
    Properties: {}
  Simple:
    Type: AWS::Serverless::SimpleTable
  NamedSimple:
    Type: AWS::Serverless::SimpleTable
    Properties: {TableName: orders}
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "${AWS::StackName}-items"
      StreamSpecification: {StreamViewType: NEW_IMAGE}
  Bus:
    Type: AWS::Events::EventBus
    Properties: {Name: forecast-events}
"""


def test_activity_table_and_event_bus_references_are_what_aws_gives(tmp_path: Path) -> None:
    template = load_template(write_template(tmp_path, OTHER_RESOURCES), stack_name="s")
    region_account = f"us-east-1:{ACCOUNT}"

    def ref(logical_id: str) -> object:
        return template.resolve({"Ref": logical_id})

    def get_att(logical_id: str, attribute: str) -> object:
        return template.resolve({"Fn::GetAtt": [logical_id, attribute]})

    # !Ref of an Activity is its ARN, Name its name.
    assert ref("Worker") == f"arn:aws:states:{region_account}:activity:review-queue"
    assert get_att("Worker", "Name") == "review-queue"
    assert ref("Unnamed") == f"arn:aws:states:{region_account}:activity:s-Unnamed"
    # A SimpleTable is a DynamoDB table: Ref its name, Arn a DynamoDB table ARN.
    assert ref("Simple") == "s-Simple"
    assert get_att("Simple", "Arn") == f"arn:aws:dynamodb:{region_account}:table/s-Simple"
    assert ref("NamedSimple") == "orders"
    assert get_att("NamedSimple", "Arn") == f"arn:aws:dynamodb:{region_account}:table/orders"
    # A table's given TableName is its name; a stream only when the table has one.
    assert ref("Table") == "s-items"
    assert get_att("Table", "Arn") == f"arn:aws:dynamodb:{region_account}:table/s-items"
    assert get_att("Table", "StreamArn").startswith(  # type: ignore[union-attr]
        f"arn:aws:dynamodb:{region_account}:table/s-items/stream/"
    )
    with pytest.raises(TemplateError, match=r"Simple\.StreamArn"):
        get_att("Simple", "StreamArn")
    # An event bus: Ref and Name its name, Arn an event-bus ARN.
    assert ref("Bus") == "forecast-events"
    assert get_att("Bus", "Name") == "forecast-events"
    assert get_att("Bus", "Arn") == f"arn:aws:events:{region_account}:event-bus/forecast-events"
    assert template.resolve({"Fn::Sub": "${Bus.Name}/${Worker}"}) == (
        f"forecast-events/arn:aws:states:{region_account}:activity:review-queue"
    )
    with pytest.raises(TemplateError, match=r"Worker\.Arn"):
        get_att("Worker", "Arn")  # CloudFormation has no Arn attribute for an Activity


def test_functions_on_another_python_are_named_in_one_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    from sfnstack.lambdas import functions as functions_module

    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
    here = f"python{sys.version_info.major}.{sys.version_info.minor}"
    write_template(
        tmp_path,
        f"""\
        Transform: AWS::Serverless-2016-10-31
        Resources:
          OldFn:
            Type: AWS::Serverless::Function
            Properties: {{CodeUri: a, Handler: app.handler, Runtime: python3.9}}
          OtherOldFn:
            Type: AWS::Serverless::Function
            Properties: {{CodeUri: b, Handler: app.handler, Runtime: python3.9}}
          HostFn:
            Type: AWS::Serverless::Function
            Properties: {{CodeUri: c, Handler: app.handler, Runtime: {here}}}
          NodeFn:
            Type: AWS::Serverless::Function
            Properties: {{CodeUri: c, Handler: app.handler, Runtime: nodejs20.x}}
        """,
    )
    functions_module._WARNED.clear()
    resolve_functions(load_template(tmp_path / "template.yaml"))
    resolve_functions(load_template(tmp_path / "template.yaml"))  # said once, not twice
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "declare Runtime" in line]
    assert len(lines) == 1, err
    (line,) = lines
    assert "python3.9" in line and sys.version.split()[0] in line
    assert "OldFn" in line and "OtherOldFn" in line
    assert "HostFn" not in line and "NodeFn" not in line  # Node fails when invoked instead


def test_queue_and_topic_names_given_in_the_template(tmp_path: Path) -> None:
    body = """
Resources:
  Named:
    Type: AWS::SQS::Queue
    Properties: {QueueName: orders}
  Topic:
    Type: AWS::SNS::Topic
    Properties: {TopicName: alerts}
"""
    template = load_template(write_template(tmp_path, body), stack_name="s")
    assert template.resolve({"Ref": "Named"}).endswith("/123456789012/orders")
    assert template.resolve({"Fn::GetAtt": ["Named", "QueueName"]}) == "orders"
    assert template.resolve({"Fn::GetAtt": ["Named", "Arn"]}).endswith(":orders")
    assert template.resolve({"Ref": "Topic"}).endswith(":alerts")
    assert template.resolve({"Fn::GetAtt": ["Topic", "TopicName"]}) == "alerts"
