//! The `bedrock` dialect passes a guardrail's trace through whole: every
//! guardrail's assessment, policy by policy, with the Converse API's names.

mod common;

use aws_sdk_bedrockruntime::types::{
    AppliedGuardrailDetails, ConverseStreamMetadataEvent, ConverseStreamOutput,
    ConverseStreamTrace, GuardrailAssessment, GuardrailAutomatedReasoningFinding as Finding,
    GuardrailAutomatedReasoningImpossibleFinding, GuardrailAutomatedReasoningInputTextReference,
    GuardrailAutomatedReasoningInvalidFinding, GuardrailAutomatedReasoningLogicWarning,
    GuardrailAutomatedReasoningLogicWarningType, GuardrailAutomatedReasoningNoTranslationsFinding,
    GuardrailAutomatedReasoningPolicyAssessment, GuardrailAutomatedReasoningRule,
    GuardrailAutomatedReasoningSatisfiableFinding, GuardrailAutomatedReasoningScenario,
    GuardrailAutomatedReasoningStatement, GuardrailAutomatedReasoningTooComplexFinding,
    GuardrailAutomatedReasoningTranslation, GuardrailAutomatedReasoningTranslationAmbiguousFinding,
    GuardrailAutomatedReasoningTranslationOption, GuardrailAutomatedReasoningValidFinding,
    GuardrailContentFilter, GuardrailContentFilterConfidence, GuardrailContentFilterStrength,
    GuardrailContentFilterType, GuardrailContentPolicyAction, GuardrailContentPolicyAssessment,
    GuardrailContextualGroundingFilter, GuardrailContextualGroundingFilterType,
    GuardrailContextualGroundingPolicyAction, GuardrailContextualGroundingPolicyAssessment,
    GuardrailCoverage, GuardrailCustomWord, GuardrailImageCoverage, GuardrailInvocationMetrics,
    GuardrailManagedWord, GuardrailManagedWordType, GuardrailOrigin, GuardrailOwnership,
    GuardrailPiiEntityFilter, GuardrailPiiEntityType, GuardrailRegexFilter,
    GuardrailSensitiveInformationPolicyAction, GuardrailSensitiveInformationPolicyAssessment,
    GuardrailTextCharactersCoverage, GuardrailTopic, GuardrailTopicPolicyAction,
    GuardrailTopicPolicyAssessment, GuardrailTopicType, GuardrailTraceAssessment, GuardrailUsage,
    GuardrailWordPolicyAction, GuardrailWordPolicyAssessment,
};
use bedrock_sse::{Bedrock, Encoder};
use bytes::BytesMut;
use serde_json::{json, Value};

/// The data of the one `metadata` event the dialect writes for `trace`.
fn encode_trace(trace: GuardrailTraceAssessment) -> Value {
    let metadata = ConverseStreamMetadataEvent::builder()
        .trace(ConverseStreamTrace::builder().guardrail(trace).build())
        .build();
    let mut encoder = Encoder::new(Bedrock::new());
    let mut out = BytesMut::new();
    encoder.push(&ConverseStreamOutput::Metadata(metadata), &mut out);
    let parsed = common::parse(std::str::from_utf8(&out).expect("frames are UTF-8"));
    assert_eq!(parsed.len(), 1, "one event: {parsed:?}");
    assert_eq!(parsed[0].event, "metadata");
    common::json(&parsed[0].data)
}

fn statement(logic: &str, natural_language: &str) -> GuardrailAutomatedReasoningStatement {
    GuardrailAutomatedReasoningStatement::builder()
        .logic(logic)
        .natural_language(natural_language)
        .build()
}

fn translation() -> GuardrailAutomatedReasoningTranslation {
    GuardrailAutomatedReasoningTranslation::builder()
        .premises(statement("(= age 17)", "The customer is 17."))
        .claims(statement("(not eligible)", "The customer is not eligible."))
        .untranslated_premises(
            GuardrailAutomatedReasoningInputTextReference::builder()
                .text("as discussed")
                .build(),
        )
        .untranslated_claims(
            GuardrailAutomatedReasoningInputTextReference::builder()
                .text("probably")
                .build(),
        )
        .confidence(0.875)
        .build()
}

fn rule(identifier: &str) -> GuardrailAutomatedReasoningRule {
    GuardrailAutomatedReasoningRule::builder()
        .identifier(identifier)
        .policy_version_arn(
            "arn:aws:bedrock:us-east-1:123456789012:automated-reasoning-policy/p1:2",
        )
        .build()
}

fn scenario(logic: &str) -> GuardrailAutomatedReasoningScenario {
    GuardrailAutomatedReasoningScenario::builder()
        .statements(statement(logic, "A scenario."))
        .build()
}

fn logic_warning() -> GuardrailAutomatedReasoningLogicWarning {
    GuardrailAutomatedReasoningLogicWarning::builder()
        .r#type(GuardrailAutomatedReasoningLogicWarningType::AlwaysTrue)
        .premises(statement("true", "Always."))
        .claims(statement("true", "Always."))
        .build()
}

fn findings() -> GuardrailAutomatedReasoningPolicyAssessment {
    GuardrailAutomatedReasoningPolicyAssessment::builder()
        .findings(Finding::Valid(
            GuardrailAutomatedReasoningValidFinding::builder()
                .translation(translation())
                .claims_true_scenario(scenario("(= age 17)"))
                .supporting_rules(rule("R1"))
                .logic_warning(logic_warning())
                .build(),
        ))
        .findings(Finding::Invalid(
            GuardrailAutomatedReasoningInvalidFinding::builder()
                .translation(translation())
                .contradicting_rules(rule("R2"))
                .logic_warning(logic_warning())
                .build(),
        ))
        .findings(Finding::Satisfiable(
            GuardrailAutomatedReasoningSatisfiableFinding::builder()
                .translation(translation())
                .claims_true_scenario(scenario("(= age 17)"))
                .claims_false_scenario(scenario("(= age 18)"))
                .logic_warning(logic_warning())
                .build(),
        ))
        .findings(Finding::Impossible(
            GuardrailAutomatedReasoningImpossibleFinding::builder()
                .translation(translation())
                .contradicting_rules(rule("R3"))
                .build(),
        ))
        .findings(Finding::TranslationAmbiguous(
            GuardrailAutomatedReasoningTranslationAmbiguousFinding::builder()
                .options(
                    GuardrailAutomatedReasoningTranslationOption::builder()
                        .translations(translation())
                        .build(),
                )
                .difference_scenarios(scenario("(= age 16)"))
                .build(),
        ))
        .findings(Finding::TooComplex(
            GuardrailAutomatedReasoningTooComplexFinding::builder().build(),
        ))
        .findings(Finding::NoTranslations(
            GuardrailAutomatedReasoningNoTranslationsFinding::builder().build(),
        ))
        .build()
}

/// An input assessment with every policy and every optional member set.
fn input_assessment() -> GuardrailAssessment {
    GuardrailAssessment::builder()
        .topic_policy(
            GuardrailTopicPolicyAssessment::builder()
                .topics(
                    GuardrailTopic::builder()
                        .name("Investment advice")
                        .r#type(GuardrailTopicType::Deny)
                        .action(GuardrailTopicPolicyAction::Blocked)
                        .detected(true)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .content_policy(
            GuardrailContentPolicyAssessment::builder()
                .filters(
                    GuardrailContentFilter::builder()
                        .r#type(GuardrailContentFilterType::PromptAttack)
                        .confidence(GuardrailContentFilterConfidence::High)
                        .filter_strength(GuardrailContentFilterStrength::Medium)
                        .action(GuardrailContentPolicyAction::Blocked)
                        .detected(true)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .word_policy(
            GuardrailWordPolicyAssessment::builder()
                .custom_words(
                    GuardrailCustomWord::builder()
                        .r#match("stonks")
                        .action(GuardrailWordPolicyAction::Blocked)
                        .detected(true)
                        .build()
                        .unwrap(),
                )
                .managed_word_lists(
                    GuardrailManagedWord::builder()
                        .r#match("darn")
                        .r#type(GuardrailManagedWordType::Profanity)
                        .action(GuardrailWordPolicyAction::None)
                        .detected(false)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .sensitive_information_policy(
            GuardrailSensitiveInformationPolicyAssessment::builder()
                .pii_entities(
                    GuardrailPiiEntityFilter::builder()
                        .r#match("jane@example.com")
                        .r#type(GuardrailPiiEntityType::Email)
                        .action(GuardrailSensitiveInformationPolicyAction::Anonymized)
                        .detected(true)
                        .build()
                        .unwrap(),
                )
                .regexes(
                    GuardrailRegexFilter::builder()
                        .name("account")
                        .r#match("ACC-1234")
                        .regex("ACC-\\d{4}")
                        .action(GuardrailSensitiveInformationPolicyAction::Blocked)
                        .detected(true)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .contextual_grounding_policy(
            GuardrailContextualGroundingPolicyAssessment::builder()
                .filters(
                    GuardrailContextualGroundingFilter::builder()
                        .r#type(GuardrailContextualGroundingFilterType::Grounding)
                        .threshold(0.75)
                        .score(0.5)
                        .action(GuardrailContextualGroundingPolicyAction::Blocked)
                        .detected(true)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .automated_reasoning_policy(findings())
        .invocation_metrics(
            GuardrailInvocationMetrics::builder()
                .guardrail_processing_latency(142)
                .usage(
                    GuardrailUsage::builder()
                        .topic_policy_units(1)
                        .content_policy_units(2)
                        .word_policy_units(3)
                        .sensitive_information_policy_units(4)
                        .sensitive_information_policy_free_units(5)
                        .contextual_grounding_policy_units(6)
                        .content_policy_image_units(7)
                        .automated_reasoning_policy_units(8)
                        .automated_reasoning_policies(9)
                        .build()
                        .unwrap(),
                )
                .guardrail_coverage(
                    GuardrailCoverage::builder()
                        .text_characters(
                            GuardrailTextCharactersCoverage::builder()
                                .guarded(120)
                                .total(150)
                                .build(),
                        )
                        .images(
                            GuardrailImageCoverage::builder()
                                .guarded(1)
                                .total(2)
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .applied_guardrail_details(
            AppliedGuardrailDetails::builder()
                .guardrail_id("gr-input")
                .guardrail_version("DRAFT")
                .guardrail_arn("arn:aws:bedrock:us-east-1:123456789012:guardrail/gr-input")
                .guardrail_origin(GuardrailOrigin::Request)
                .guardrail_origin(GuardrailOrigin::AccountEnforced)
                .guardrail_ownership(GuardrailOwnership::SelfValue)
                .build(),
        )
        .build()
}

/// An output assessment with only what the API requires of each member.
fn sparse_output_assessment() -> GuardrailAssessment {
    GuardrailAssessment::builder()
        .topic_policy(
            GuardrailTopicPolicyAssessment::builder()
                .topics(
                    GuardrailTopic::builder()
                        .name("Politics")
                        .r#type(GuardrailTopicType::Deny)
                        .action(GuardrailTopicPolicyAction::None)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .content_policy(
            GuardrailContentPolicyAssessment::builder()
                .filters(
                    GuardrailContentFilter::builder()
                        .r#type(GuardrailContentFilterType::Hate)
                        .confidence(GuardrailContentFilterConfidence::None)
                        .action(GuardrailContentPolicyAction::None)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .word_policy(
            GuardrailWordPolicyAssessment::builder()
                .set_custom_words(Some(Vec::new()))
                .set_managed_word_lists(Some(Vec::new()))
                .build()
                .unwrap(),
        )
        .sensitive_information_policy(
            GuardrailSensitiveInformationPolicyAssessment::builder()
                .set_pii_entities(Some(Vec::new()))
                .regexes(
                    GuardrailRegexFilter::builder()
                        .action(GuardrailSensitiveInformationPolicyAction::None)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .contextual_grounding_policy(
            GuardrailContextualGroundingPolicyAssessment::builder().build(),
        )
        .automated_reasoning_policy(GuardrailAutomatedReasoningPolicyAssessment::builder().build())
        .invocation_metrics(
            GuardrailInvocationMetrics::builder()
                .usage(
                    GuardrailUsage::builder()
                        .topic_policy_units(1)
                        .content_policy_units(1)
                        .word_policy_units(0)
                        .sensitive_information_policy_units(0)
                        .sensitive_information_policy_free_units(0)
                        .contextual_grounding_policy_units(0)
                        .build()
                        .unwrap(),
                )
                .guardrail_coverage(
                    GuardrailCoverage::builder()
                        .text_characters(GuardrailTextCharactersCoverage::builder().build())
                        .build(),
                )
                .build(),
        )
        .applied_guardrail_details(AppliedGuardrailDetails::builder().build())
        .build()
}

fn rich_trace() -> GuardrailTraceAssessment {
    GuardrailTraceAssessment::builder()
        .model_output("{\"output\":[{\"text\":\"I can't advise on investments.\"}]}")
        .input_assessment("gr-input", input_assessment())
        .output_assessments(
            "gr-output",
            vec![
                sparse_output_assessment(),
                GuardrailAssessment::builder().build(),
            ],
        )
        .action_reason("Guardrail blocked.")
        .build()
}

fn statement_json(logic: &str, natural_language: &str) -> Value {
    json!({"logic": logic, "naturalLanguage": natural_language})
}

fn translation_json() -> Value {
    json!({
        "premises": [statement_json("(= age 17)", "The customer is 17.")],
        "claims": [statement_json("(not eligible)", "The customer is not eligible.")],
        "untranslatedPremises": [{"text": "as discussed"}],
        "untranslatedClaims": [{"text": "probably"}],
        "confidence": 0.875
    })
}

fn rule_json(identifier: &str) -> Value {
    json!({
        "identifier": identifier,
        "policyVersionArn": "arn:aws:bedrock:us-east-1:123456789012:automated-reasoning-policy/p1:2"
    })
}

fn scenario_json(logic: &str) -> Value {
    json!({"statements": [statement_json(logic, "A scenario.")]})
}

fn logic_warning_json() -> Value {
    json!({
        "type": "ALWAYS_TRUE",
        "premises": [statement_json("true", "Always.")],
        "claims": [statement_json("true", "Always.")]
    })
}

fn rich_trace_json() -> Value {
    json!({
        "modelOutput": ["{\"output\":[{\"text\":\"I can't advise on investments.\"}]}"],
        "inputAssessment": {
            "gr-input": {
                "topicPolicy": {"topics": [
                    {"name": "Investment advice", "type": "DENY", "action": "BLOCKED", "detected": true}
                ]},
                "contentPolicy": {"filters": [{
                    "type": "PROMPT_ATTACK",
                    "confidence": "HIGH",
                    "filterStrength": "MEDIUM",
                    "action": "BLOCKED",
                    "detected": true
                }]},
                "wordPolicy": {
                    "customWords": [{"match": "stonks", "action": "BLOCKED", "detected": true}],
                    "managedWordLists": [
                        {"match": "darn", "type": "PROFANITY", "action": "NONE", "detected": false}
                    ]
                },
                "sensitiveInformationPolicy": {
                    "piiEntities": [{
                        "match": "jane@example.com",
                        "type": "EMAIL",
                        "action": "ANONYMIZED",
                        "detected": true
                    }],
                    "regexes": [{
                        "name": "account",
                        "match": "ACC-1234",
                        "regex": "ACC-\\d{4}",
                        "action": "BLOCKED",
                        "detected": true
                    }]
                },
                "contextualGroundingPolicy": {"filters": [{
                    "type": "GROUNDING",
                    "threshold": 0.75,
                    "score": 0.5,
                    "action": "BLOCKED",
                    "detected": true
                }]},
                "automatedReasoningPolicy": {"findings": [
                    {"valid": {
                        "translation": translation_json(),
                        "claimsTrueScenario": scenario_json("(= age 17)"),
                        "supportingRules": [rule_json("R1")],
                        "logicWarning": logic_warning_json()
                    }},
                    {"invalid": {
                        "translation": translation_json(),
                        "contradictingRules": [rule_json("R2")],
                        "logicWarning": logic_warning_json()
                    }},
                    {"satisfiable": {
                        "translation": translation_json(),
                        "claimsTrueScenario": scenario_json("(= age 17)"),
                        "claimsFalseScenario": scenario_json("(= age 18)"),
                        "logicWarning": logic_warning_json()
                    }},
                    {"impossible": {
                        "translation": translation_json(),
                        "contradictingRules": [rule_json("R3")]
                    }},
                    {"translationAmbiguous": {
                        "options": [{"translations": [translation_json()]}],
                        "differenceScenarios": [scenario_json("(= age 16)")]
                    }},
                    {"tooComplex": {}},
                    {"noTranslations": {}}
                ]},
                "invocationMetrics": {
                    "guardrailProcessingLatency": 142,
                    "usage": {
                        "topicPolicyUnits": 1,
                        "contentPolicyUnits": 2,
                        "wordPolicyUnits": 3,
                        "sensitiveInformationPolicyUnits": 4,
                        "sensitiveInformationPolicyFreeUnits": 5,
                        "contextualGroundingPolicyUnits": 6,
                        "contentPolicyImageUnits": 7,
                        "automatedReasoningPolicyUnits": 8,
                        "automatedReasoningPolicies": 9
                    },
                    "guardrailCoverage": {
                        "textCharacters": {"guarded": 120, "total": 150},
                        "images": {"guarded": 1, "total": 2}
                    }
                },
                "appliedGuardrailDetails": {
                    "guardrailId": "gr-input",
                    "guardrailVersion": "DRAFT",
                    "guardrailArn": "arn:aws:bedrock:us-east-1:123456789012:guardrail/gr-input",
                    "guardrailOrigin": ["REQUEST", "ACCOUNT_ENFORCED"],
                    "guardrailOwnership": "SELF"
                }
            }
        },
        "outputAssessments": {
            "gr-output": [
                {
                    "topicPolicy": {"topics": [{"name": "Politics", "type": "DENY", "action": "NONE"}]},
                    "contentPolicy": {"filters": [{"type": "HATE", "confidence": "NONE", "action": "NONE"}]},
                    "wordPolicy": {"customWords": [], "managedWordLists": []},
                    "sensitiveInformationPolicy": {"piiEntities": [], "regexes": [{"action": "NONE"}]},
                    "contextualGroundingPolicy": {},
                    "automatedReasoningPolicy": {},
                    "invocationMetrics": {
                        "usage": {
                            "topicPolicyUnits": 1,
                            "contentPolicyUnits": 1,
                            "wordPolicyUnits": 0,
                            "sensitiveInformationPolicyUnits": 0,
                            "sensitiveInformationPolicyFreeUnits": 0,
                            "contextualGroundingPolicyUnits": 0
                        },
                        "guardrailCoverage": {"textCharacters": {}}
                    },
                    "appliedGuardrailDetails": {}
                },
                {}
            ]
        },
        "actionReason": "Guardrail blocked."
    })
}

#[test]
fn a_guardrail_trace_is_written_whole() {
    assert_eq!(
        encode_trace(rich_trace()),
        json!({"trace": {"guardrail": rich_trace_json()}})
    );
}

#[test]
fn an_empty_guardrail_trace_is_an_empty_object() {
    assert_eq!(
        encode_trace(GuardrailTraceAssessment::builder().build()),
        json!({"trace": {"guardrail": {}}})
    );
}

/// What the SDK's own deserializers read back from our JSON, served as
/// Bedrock's event-stream wire: every key we write must be one they know,
/// or the trace would not come back equal.
#[cfg(feature = "mock")]
mod through_the_sdk {
    use aws_sdk_bedrockruntime::config::retry::RetryConfig;
    use aws_sdk_bedrockruntime::config::{BehaviorVersion, Credentials, Region};
    use aws_sdk_bedrockruntime::types::{ConverseStreamMetadataEvent, ConverseStreamOutput};
    use aws_smithy_eventstream::frame::write_message_to;
    use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
    use bytes::BytesMut;
    use serde_json::{json, Value};

    use super::{encode_trace, rich_trace};

    /// Sends `payload` as the one `metadata` event of a ConverseStream
    /// response and returns the event the SDK decodes from it.
    async fn decode_metadata(payload: &Value) -> ConverseStreamMetadataEvent {
        let headers = [
            (":message-type", "event"),
            (":event-type", "metadata"),
            (":content-type", "application/json"),
        ]
        .map(|(name, value)| Header::new(name, HeaderValue::String(value.to_owned().into())));
        let message =
            Message::new_from_parts(headers.to_vec(), serde_json::to_vec(payload).unwrap());
        let mut body = BytesMut::new();
        write_message_to(&message, &mut body).unwrap();
        let body = body.freeze();

        let app = axum::Router::new().fallback(move || {
            let body = body.clone();
            async move {
                (
                    [("content-type", "application/vnd.amazon.eventstream")],
                    body,
                )
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });

        let config = aws_sdk_bedrockruntime::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::from_static("us-east-1"))
            .credentials_provider(Credentials::for_tests())
            .endpoint_url(format!("http://{address}"))
            .retry_config(RetryConfig::disabled())
            .build();
        let mut output = aws_sdk_bedrockruntime::Client::from_conf(config)
            .converse_stream()
            .model_id("test-model")
            .send()
            .await
            .expect("the SDK accepts the response");
        let event = output
            .stream
            .recv()
            .await
            .expect("the SDK decodes the event");
        server.abort();
        match event {
            Some(ConverseStreamOutput::Metadata(metadata)) => metadata,
            other => panic!("expected a metadata event, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn the_sdk_reads_back_the_trace_it_gave_us() {
        let written = encode_trace(rich_trace());
        let metadata = decode_metadata(&written).await;
        let read_back = metadata.trace.and_then(|trace| trace.guardrail);
        assert_eq!(read_back, Some(rich_trace()));
    }

    #[tokio::test]
    async fn a_finding_of_an_unknown_kind_is_an_empty_object() {
        let upstream = json!({"trace": {"guardrail": {
            "inputAssessment": {"gr-1": {"automatedReasoningPolicy": {"findings": [
                {"tooComplex": {}},
                {"someFutureKind": {"detail": [1, 2, 3]}}
            ]}}}
        }}});
        let metadata = decode_metadata(&upstream).await;
        let written = encode_trace(metadata.trace.unwrap().guardrail.unwrap());
        assert_eq!(
            written,
            json!({"trace": {"guardrail": {
                "inputAssessment": {"gr-1": {"automatedReasoningPolicy": {"findings": [
                    {"tooComplex": {}},
                    {}
                ]}}}
            }}})
        );
    }
}
