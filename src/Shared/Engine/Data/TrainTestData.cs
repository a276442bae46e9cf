namespace DistributedNN.Data;

/// <summary>A training set and the test set it is measured on.</summary>
/// <param name="Input">what the features went through on the way from the source's raw values: the pixel scaling of
/// images, the training rows' standardisation of a CSV (null: taken as they are)</param>
public sealed record TrainTestData(Dataset Train, Dataset Test, string Source, InputTransform? Input = null)
{
    public InputTransform Transform => Input ?? InputTransform.Identity;
}
