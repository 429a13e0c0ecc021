from . import model_mesh_pb2 as _model_mesh_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListModelsRequest(_message.Message):
    __slots__ = ("prefix", "limit", "startAfter")
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    STARTAFTER_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    limit: int
    startAfter: str
    def __init__(self, prefix: _Optional[str] = ..., limit: _Optional[int] = ..., startAfter: _Optional[str] = ...) -> None: ...

class ModelSummary(_message.Message):
    __slots__ = ("modelId", "type", "status", "locations", "lastUsedTime", "sizeInBytes", "vModelIds", "errors")
    MODELID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LOCATIONS_FIELD_NUMBER: _ClassVar[int]
    LASTUSEDTIME_FIELD_NUMBER: _ClassVar[int]
    SIZEINBYTES_FIELD_NUMBER: _ClassVar[int]
    VMODELIDS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    modelId: str
    type: str
    status: _model_mesh_pb2.ModelStatusInfo.ModelStatus
    locations: _containers.RepeatedScalarFieldContainer[str]
    lastUsedTime: int
    sizeInBytes: int
    vModelIds: _containers.RepeatedScalarFieldContainer[str]
    errors: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, modelId: _Optional[str] = ..., type: _Optional[str] = ..., status: _Optional[_Union[_model_mesh_pb2.ModelStatusInfo.ModelStatus, str]] = ..., locations: _Optional[_Iterable[str]] = ..., lastUsedTime: _Optional[int] = ..., sizeInBytes: _Optional[int] = ..., vModelIds: _Optional[_Iterable[str]] = ..., errors: _Optional[_Iterable[str]] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models", "nextStartAfter")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    NEXTSTARTAFTER_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelSummary]
    nextStartAfter: str
    def __init__(self, models: _Optional[_Iterable[_Union[ModelSummary, _Mapping]]] = ..., nextStartAfter: _Optional[str] = ...) -> None: ...

class ListVModelsRequest(_message.Message):
    __slots__ = ("prefix", "limit", "startAfter")
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    STARTAFTER_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    limit: int
    startAfter: str
    def __init__(self, prefix: _Optional[str] = ..., limit: _Optional[int] = ..., startAfter: _Optional[str] = ...) -> None: ...

class VModelSummary(_message.Message):
    __slots__ = ("vModelId", "owner", "activeModelId", "targetModelId", "status")
    VMODELID_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    ACTIVEMODELID_FIELD_NUMBER: _ClassVar[int]
    TARGETMODELID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    vModelId: str
    owner: str
    activeModelId: str
    targetModelId: str
    status: _model_mesh_pb2.VModelStatusInfo.VModelStatus
    def __init__(self, vModelId: _Optional[str] = ..., owner: _Optional[str] = ..., activeModelId: _Optional[str] = ..., targetModelId: _Optional[str] = ..., status: _Optional[_Union[_model_mesh_pb2.VModelStatusInfo.VModelStatus, str]] = ...) -> None: ...

class ListVModelsResponse(_message.Message):
    __slots__ = ("vModels", "nextStartAfter")
    VMODELS_FIELD_NUMBER: _ClassVar[int]
    NEXTSTARTAFTER_FIELD_NUMBER: _ClassVar[int]
    vModels: _containers.RepeatedCompositeFieldContainer[VModelSummary]
    nextStartAfter: str
    def __init__(self, vModels: _Optional[_Iterable[_Union[VModelSummary, _Mapping]]] = ..., nextStartAfter: _Optional[str] = ...) -> None: ...
