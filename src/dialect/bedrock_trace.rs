//! Bedrock's JSON for a guardrail's trace: its verdict and each guardrail's
//! assessment, policy by policy.
//!
//! Every key is the one the SDK's JSON deserializers match on
//! (`protocol_serde::shape_guardrail_*`), so a client that reads the Converse
//! API reads this. Members the service always sends (a topic's name, a
//! content filter's confidence, the usage counters) are always written;
//! optional ones only when present. An automated-reasoning finding of a kind
//! this SDK does not know is written as `{}`: its name and content are gone
//! by the time we see it. The tree holds no blobs, documents or timestamps.

use std::collections::HashMap;

use aws_sdk_bedrockruntime::types::{
    AppliedGuardrailDetails, GuardrailAssessment, GuardrailAutomatedReasoningFinding,
    GuardrailAutomatedReasoningImpossibleFinding, GuardrailAutomatedReasoningInputTextReference,
    GuardrailAutomatedReasoningInvalidFinding, GuardrailAutomatedReasoningLogicWarning,
    GuardrailAutomatedReasoningPolicyAssessment, GuardrailAutomatedReasoningRule,
    GuardrailAutomatedReasoningSatisfiableFinding, GuardrailAutomatedReasoningScenario,
    GuardrailAutomatedReasoningStatement, GuardrailAutomatedReasoningTranslation,
    GuardrailAutomatedReasoningTranslationAmbiguousFinding,
    GuardrailAutomatedReasoningTranslationOption, GuardrailAutomatedReasoningValidFinding,
    GuardrailContentFilter, GuardrailContentPolicyAssessment, GuardrailContextualGroundingFilter,
    GuardrailContextualGroundingPolicyAssessment, GuardrailCoverage, GuardrailCustomWord,
    GuardrailInvocationMetrics, GuardrailManagedWord, GuardrailOrigin, GuardrailPiiEntityFilter,
    GuardrailRegexFilter, GuardrailSensitiveInformationPolicyAssessment, GuardrailTopic,
    GuardrailTopicPolicyAssessment, GuardrailTraceAssessment, GuardrailUsage,
    GuardrailWordPolicyAssessment,
};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;

use super::bedrock_json::{entry, Json};

/// Writes `"key": value` in Bedrock's JSON only when the value is present.
fn json_entry<M, T>(map: &mut M, key: &str, value: Option<&T>) -> Result<(), M::Error>
where
    M: SerializeMap,
    T: ?Sized,
    for<'b> Json<'b, T>: Serialize,
{
    entry(map, key, value.map(Json).as_ref())
}

/// A list, each item in Bedrock's JSON.
///
/// A wrapper of its own rather than `impl Serialize for Json<Vec<T>>`: that
/// impl would recurse into itself and overflow trait resolution wherever
/// `json_entry` is called before its value's type is inferred.
struct List<'a, T>(&'a [T]);

impl<T> Serialize for List<'_, T>
where
    for<'b> Json<'b, T>: Serialize,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for item in self.0 {
            seq.serialize_element(&Json(item))?;
        }
        seq.end()
    }
}

/// Writes `"key": [...]` only when the list is present.
fn list_entry<M, T>(map: &mut M, key: &str, list: Option<&[T]>) -> Result<(), M::Error>
where
    M: SerializeMap,
    for<'b> Json<'b, T>: Serialize,
{
    entry(map, key, list.map(List).as_ref())
}

/// Assessments keyed by guardrail id: one per guardrail for the input, a
/// list per guardrail for the output.
struct ById<'a, T>(&'a HashMap<String, T>);

impl Serialize for ById<'_, GuardrailAssessment> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (guardrail_id, assessment) in self.0 {
            map.serialize_entry(guardrail_id, &Json(assessment))?;
        }
        map.end()
    }
}

impl Serialize for ById<'_, Vec<GuardrailAssessment>> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (guardrail_id, assessments) in self.0 {
            map.serialize_entry(guardrail_id, &List(assessments))?;
        }
        map.end()
    }
}

impl Serialize for Json<'_, GuardrailTraceAssessment> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let trace = self.0;
        let mut map = serializer.serialize_map(None)?;
        entry(&mut map, "modelOutput", trace.model_output.as_ref())?;
        entry(
            &mut map,
            "inputAssessment",
            trace.input_assessment.as_ref().map(ById).as_ref(),
        )?;
        entry(
            &mut map,
            "outputAssessments",
            trace.output_assessments.as_ref().map(ById).as_ref(),
        )?;
        entry(&mut map, "actionReason", trace.action_reason.as_deref())?;
        map.end()
    }
}

impl Serialize for Json<'_, GuardrailAssessment> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let assessment = self.0;
        let mut map = serializer.serialize_map(None)?;
        json_entry(&mut map, "topicPolicy", assessment.topic_policy.as_ref())?;
        json_entry(
            &mut map,
            "contentPolicy",
            assessment.content_policy.as_ref(),
        )?;
        json_entry(&mut map, "wordPolicy", assessment.word_policy.as_ref())?;
        json_entry(
            &mut map,
            "sensitiveInformationPolicy",
            assessment.sensitive_information_policy.as_ref(),
        )?;
        json_entry(
            &mut map,
            "contextualGroundingPolicy",
            assessment.contextual_grounding_policy.as_ref(),
        )?;
        json_entry(
            &mut map,
            "automatedReasoningPolicy",
            assessment.automated_reasoning_policy.as_ref(),
        )?;
        json_entry(
            &mut map,
            "invocationMetrics",
            assessment.invocation_metrics.as_ref(),
        )?;
        json_entry(
            &mut map,
            "appliedGuardrailDetails",
            assessment.applied_guardrail_details.as_ref(),
        )?;
        map.end()
    }
}

impl Serialize for Json<'_, GuardrailTopicPolicyAssessment> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("topics", &List(&self.0.topics))?;
        map.end()
    }
}

impl Serialize for Json<'_, GuardrailTopic> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let topic = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("name", &topic.name)?;
        map.serialize_entry("type", topic.r#type.as_str())?;
        map.serialize_entry("action", topic.action.as_str())?;
        entry(&mut map, "detected", topic.detected.as_ref())?;
        map.end()
    }
}

impl Serialize for Json<'_, GuardrailContentPolicyAssessment> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("filters", &List(&self.0.filters))?;
        map.end()
    }
}

impl Serialize for Json<'_, GuardrailContentFilter> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let filter = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("type", filter.r#type.as_str())?;
        map.serialize_entry("confidence", filter.confidence.as_str())?;
        entry(
            &mut map,
            "filterStrength",
            filter
                .filter_strength
                .as_ref()
                .map(|strength| strength.as_str()),
        )?;
        map.serialize_entry("action", filter.action.as_str())?;
        entry(&mut map, "detected", filter.detected.as_ref())?;
        map.end()
    }
}

impl Serialize for Json<'_, GuardrailWordPolicyAssessment> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("customWords", &List(&self.0.custom_words))?;
        map.serialize_entry("managedWordLists", &List(&self.0.managed_word_lists))?;
        map.end()
    }
}

impl Serialize for Json<'_, GuardrailCustomWord> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let word = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("match", &word.r#match)?;
        map.serialize_entry("action", word.action.as_str())?;
        entry(&mut map, "detected", word.detected.as_ref())?;
        map.end()
    }
}

impl Serialize for Json<'_, GuardrailManagedWord> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let word = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("match", &word.r#match)?;
        map.serialize_entry("type", word.r#type.as_str())?;
        map.serialize_entry("action", word.action.as_str())?;
        entry(&mut map, "detected", word.detected.as_ref())?;
        map.end()
    }
}

impl Serialize for Json<'_, GuardrailSensitiveInformationPolicyAssessment> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("piiEntities", &List(&self.0.pii_entities))?;
        map.serialize_entry("regexes", &List(&self.0.regexes))?;
        map.end()
    }
}

impl Serialize for Json<'_, GuardrailPiiEntityFilter> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let entity = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("match", &entity.r#match)?;
        map.serialize_entry("type", entity.r#type.as_str())?;
        map.serialize_entry("action", entity.action.as_str())?;
        entry(&mut map, "detected", entity.detected.as_ref())?;
        map.end()
    }
}

impl Serialize for Json<'_, GuardrailRegexFilter> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let regex = self.0;
        let mut map = serializer.serialize_map(None)?;
        entry(&mut map, "name", regex.name.as_deref())?;
        entry(&mut map, "match", regex.r#match.as_deref())?;
        entry(&mut map, "regex", regex.regex.as_deref())?;
        map.serialize_entry("action", regex.action.as_str())?;
        entry(&mut map, "detected", regex.detected.as_ref())?;
        map.end()
    }
}

impl Serialize for Json<'_, GuardrailContextualGroundingPolicyAssessment> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        list_entry(&mut map, "filters", self.0.filters.as_deref())?;
        map.end()
    }
}

impl Serialize for Json<'_, GuardrailContextualGroundingFilter> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let filter = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("type", filter.r#type.as_str())?;
        map.serialize_entry("threshold", &filter.threshold)?;
        map.serialize_entry("score", &filter.score)?;
        map.serialize_entry("action", filter.action.as_str())?;
        entry(&mut map, "detected", filter.detected.as_ref())?;
        map.end()
    }
}

impl Serialize for Json<'_, GuardrailAutomatedReasoningPolicyAssessment> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        list_entry(&mut map, "findings", self.0.findings.as_deref())?;
        map.end()
    }
}

/// A union on the wire: an object with one key naming the kind of finding.
impl Serialize for Json<'_, GuardrailAutomatedReasoningFinding> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        match self.0 {
            GuardrailAutomatedReasoningFinding::Valid(finding) => {
                map.serialize_entry("valid", &Json(finding))?;
            }
            GuardrailAutomatedReasoningFinding::Invalid(finding) => {
                map.serialize_entry("invalid", &Json(finding))?;
            }
            GuardrailAutomatedReasoningFinding::Satisfiable(finding) => {
                map.serialize_entry("satisfiable", &Json(finding))?;
            }
            GuardrailAutomatedReasoningFinding::Impossible(finding) => {
                map.serialize_entry("impossible", &Json(finding))?;
            }
            GuardrailAutomatedReasoningFinding::TranslationAmbiguous(finding) => {
                map.serialize_entry("translationAmbiguous", &Json(finding))?;
            }
            // Both kinds have no members: Bedrock sends `{}`.
            GuardrailAutomatedReasoningFinding::TooComplex(_) => {
                map.serialize_entry("tooComplex", &EmptyObject)?;
            }
            GuardrailAutomatedReasoningFinding::NoTranslations(_) => {
                map.serialize_entry("noTranslations", &EmptyObject)?;
            }
            _ => {}
        }
        map.end()
    }
}

struct EmptyObject;

impl Serialize for EmptyObject {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_map(Some(0))?.end()
    }
}

impl Serialize for Json<'_, GuardrailAutomatedReasoningValidFinding> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let finding = self.0;
        let mut map = serializer.serialize_map(None)?;
        json_entry(&mut map, "translation", finding.translation.as_ref())?;
        json_entry(
            &mut map,
            "claimsTrueScenario",
            finding.claims_true_scenario.as_ref(),
        )?;
        list_entry(
            &mut map,
            "supportingRules",
            finding.supporting_rules.as_deref(),
        )?;
        json_entry(&mut map, "logicWarning", finding.logic_warning.as_ref())?;
        map.end()
    }
}

impl Serialize for Json<'_, GuardrailAutomatedReasoningInvalidFinding> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let finding = self.0;
        let mut map = serializer.serialize_map(None)?;
        json_entry(&mut map, "translation", finding.translation.as_ref())?;
        list_entry(
            &mut map,
            "contradictingRules",
            finding.contradicting_rules.as_deref(),
        )?;
        json_entry(&mut map, "logicWarning", finding.logic_warning.as_ref())?;
        map.end()
    }
}

impl Serialize for Json<'_, GuardrailAutomatedReasoningSatisfiableFinding> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let finding = self.0;
        let mut map = serializer.serialize_map(None)?;
        json_entry(&mut map, "translation", finding.translation.as_ref())?;
        json_entry(
            &mut map,
            "claimsTrueScenario",
            finding.claims_true_scenario.as_ref(),
        )?;
        json_entry(
            &mut map,
            "claimsFalseScenario",
            finding.claims_false_scenario.as_ref(),
        )?;
        json_entry(&mut map, "logicWarning", finding.logic_warning.as_ref())?;
        map.end()
    }
}

impl Serialize for Json<'_, GuardrailAutomatedReasoningImpossibleFinding> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let finding = self.0;
        let mut map = serializer.serialize_map(None)?;
        json_entry(&mut map, "translation", finding.translation.as_ref())?;
        list_entry(
            &mut map,
            "contradictingRules",
            finding.contradicting_rules.as_deref(),
        )?;
        json_entry(&mut map, "logicWarning", finding.logic_warning.as_ref())?;
        map.end()
    }
}

impl Serialize for Json<'_, GuardrailAutomatedReasoningTranslationAmbiguousFinding> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let finding = self.0;
        let mut map = serializer.serialize_map(None)?;
        list_entry(&mut map, "options", finding.options.as_deref())?;
        list_entry(
            &mut map,
            "differenceScenarios",
            finding.difference_scenarios.as_deref(),
        )?;
        map.end()
    }
}

impl Serialize for Json<'_, GuardrailAutomatedReasoningTranslationOption> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        list_entry(&mut map, "translations", self.0.translations.as_deref())?;
        map.end()
    }
}

impl Serialize for Json<'_, GuardrailAutomatedReasoningTranslation> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let translation = self.0;
        let mut map = serializer.serialize_map(None)?;
        list_entry(&mut map, "premises", translation.premises.as_deref())?;
        list_entry(&mut map, "claims", translation.claims.as_deref())?;
        list_entry(
            &mut map,
            "untranslatedPremises",
            translation.untranslated_premises.as_deref(),
        )?;
        list_entry(
            &mut map,
            "untranslatedClaims",
            translation.untranslated_claims.as_deref(),
        )?;
        entry(&mut map, "confidence", translation.confidence.as_ref())?;
        map.end()
    }
}

impl Serialize for Json<'_, GuardrailAutomatedReasoningScenario> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        list_entry(&mut map, "statements", self.0.statements.as_deref())?;
        map.end()
    }
}

impl Serialize for Json<'_, GuardrailAutomatedReasoningStatement> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let statement = self.0;
        let mut map = serializer.serialize_map(None)?;
        entry(&mut map, "logic", statement.logic.as_deref())?;
        entry(
            &mut map,
            "naturalLanguage",
            statement.natural_language.as_deref(),
        )?;
        map.end()
    }
}

impl Serialize for Json<'_, GuardrailAutomatedReasoningInputTextReference> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        entry(&mut map, "text", self.0.text.as_deref())?;
        map.end()
    }
}

impl Serialize for Json<'_, GuardrailAutomatedReasoningRule> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let rule = self.0;
        let mut map = serializer.serialize_map(None)?;
        entry(&mut map, "identifier", rule.identifier.as_deref())?;
        entry(
            &mut map,
            "policyVersionArn",
            rule.policy_version_arn.as_deref(),
        )?;
        map.end()
    }
}

impl Serialize for Json<'_, GuardrailAutomatedReasoningLogicWarning> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let warning = self.0;
        let mut map = serializer.serialize_map(None)?;
        entry(
            &mut map,
            "type",
            warning.r#type.as_ref().map(|kind| kind.as_str()),
        )?;
        list_entry(&mut map, "premises", warning.premises.as_deref())?;
        list_entry(&mut map, "claims", warning.claims.as_deref())?;
        map.end()
    }
}

impl Serialize for Json<'_, GuardrailInvocationMetrics> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let metrics = self.0;
        let mut map = serializer.serialize_map(None)?;
        entry(
            &mut map,
            "guardrailProcessingLatency",
            metrics.guardrail_processing_latency.as_ref(),
        )?;
        json_entry(&mut map, "usage", metrics.usage.as_ref())?;
        json_entry(
            &mut map,
            "guardrailCoverage",
            metrics.guardrail_coverage.as_ref(),
        )?;
        map.end()
    }
}

impl Serialize for Json<'_, GuardrailUsage> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let usage = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("topicPolicyUnits", &usage.topic_policy_units)?;
        map.serialize_entry("contentPolicyUnits", &usage.content_policy_units)?;
        map.serialize_entry("wordPolicyUnits", &usage.word_policy_units)?;
        map.serialize_entry(
            "sensitiveInformationPolicyUnits",
            &usage.sensitive_information_policy_units,
        )?;
        map.serialize_entry(
            "sensitiveInformationPolicyFreeUnits",
            &usage.sensitive_information_policy_free_units,
        )?;
        map.serialize_entry(
            "contextualGroundingPolicyUnits",
            &usage.contextual_grounding_policy_units,
        )?;
        entry(
            &mut map,
            "contentPolicyImageUnits",
            usage.content_policy_image_units.as_ref(),
        )?;
        entry(
            &mut map,
            "automatedReasoningPolicyUnits",
            usage.automated_reasoning_policy_units.as_ref(),
        )?;
        entry(
            &mut map,
            "automatedReasoningPolicies",
            usage.automated_reasoning_policies.as_ref(),
        )?;
        map.end()
    }
}

impl Serialize for Json<'_, GuardrailCoverage> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let coverage = self.0;
        let mut map = serializer.serialize_map(None)?;
        if let Some(text) = &coverage.text_characters {
            map.serialize_entry("textCharacters", &Guarded(text.guarded, text.total))?;
        }
        if let Some(images) = &coverage.images {
            map.serialize_entry("images", &Guarded(images.guarded, images.total))?;
        }
        map.end()
    }
}

/// How many characters or images the guardrail checked, out of how many.
struct Guarded(Option<i32>, Option<i32>);

impl Serialize for Guarded {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        entry(&mut map, "guarded", self.0.as_ref())?;
        entry(&mut map, "total", self.1.as_ref())?;
        map.end()
    }
}

impl Serialize for Json<'_, AppliedGuardrailDetails> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let details = self.0;
        let mut map = serializer.serialize_map(None)?;
        entry(&mut map, "guardrailId", details.guardrail_id.as_deref())?;
        entry(
            &mut map,
            "guardrailVersion",
            details.guardrail_version.as_deref(),
        )?;
        entry(&mut map, "guardrailArn", details.guardrail_arn.as_deref())?;
        list_entry(
            &mut map,
            "guardrailOrigin",
            details.guardrail_origin.as_deref(),
        )?;
        entry(
            &mut map,
            "guardrailOwnership",
            details
                .guardrail_ownership
                .as_ref()
                .map(|ownership| ownership.as_str()),
        )?;
        map.end()
    }
}

impl Serialize for Json<'_, GuardrailOrigin> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.as_str())
    }
}
