"""Serializers of the preference pairs for DPO (``selectors/preference_pairs.py``
``dpo_pairs``): the rules a request asks for, and one pair as TRL reads it."""

from __future__ import annotations

from rest_framework import serializers

from annotations.analysis.dpo_pairs import MIN_AGREEMENT_RANGE, MIN_RATERS_RANGE, DpoRules

_DEFAULTS = DpoRules()


class DpoRulesSerializer(serializers.Serializer):
    """The query: the rules (``annotations/analysis/dpo_pairs.py``), each with its default."""

    min_raters = serializers.IntegerField(
        required=False, default=_DEFAULTS.min_raters, min_value=MIN_RATERS_RANGE[0], max_value=MIN_RATERS_RANGE[1],
        help_text="Keep a pair only if at least this many raters compared it.")
    min_agreement = serializers.FloatField(
        required=False, default=_DEFAULTS.min_agreement, min_value=MIN_AGREEMENT_RANGE[0],
        max_value=MIN_AGREEMENT_RANGE[1],
        help_text="Keep a pair only if at least this share of the raters who compared it preferred the chosen "
                  "response (a tie counts against it); a strict majority is always needed.")
    exclude_harm_flagged = serializers.BooleanField(
        required=False, default=_DEFAULTS.exclude_harm_flagged,
        help_text="Leave out every pair with a response flagged as potentially harmful, unless every flag on it "
                  "was adjudicated not harmful.")

    def rules(self) -> DpoRules:
        data = self.validated_data
        return DpoRules(min_raters=data["min_raters"], min_agreement=data["min_agreement"],
                        exclude_harm_flagged=data["exclude_harm_flagged"])


class ChatMessageSerializer(serializers.Serializer):
    role = serializers.CharField(read_only=True, help_text="system, user or assistant.")
    content = serializers.CharField(read_only=True)


class DpoPairSerializer(serializers.Serializer):
    """One kept (case, chosen, rejected) pair: TRL's conversational preference format and
    where the pair comes from."""

    prompt = ChatMessageSerializer(many=True, read_only=True,
                                   help_text="The case as the Baseline arm is prompted with it.")
    chosen = ChatMessageSerializer(many=True, read_only=True,
                                   help_text="One assistant message: the preferred response, as the raters saw it "
                                             "(empty for a response that stays silent).")
    rejected = ChatMessageSerializer(many=True, read_only=True, help_text="One assistant message: the other response.")
    case_id = serializers.CharField(read_only=True, help_text="The case's id in its case file.")
    chosen_arm = serializers.CharField(read_only=True)
    rejected_arm = serializers.CharField(read_only=True)
    chosen_response = serializers.IntegerField(read_only=True, help_text="The chosen response's id.")
    rejected_response = serializers.IntegerField(read_only=True, help_text="The rejected response's id.")
    raters = serializers.IntegerField(read_only=True,
                                      help_text="Raters whose current submission compared the two responses.")
    agreement = serializers.FloatField(read_only=True,
                                       help_text="The share of them who preferred the chosen response.")
    rater_ids = serializers.ListField(child=serializers.CharField(), read_only=True, help_text="Their usernames.")
